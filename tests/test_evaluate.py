"""cinic/analysis/evaluate.py: metrics checked against hand-computed numbers from fixed logits."""

import json
import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from cinic.model.device import uses_bf16
from cinic.analysis.evaluate import EvaluationError, classify_pictures, evaluate, predict_logits, predict_probs, top_k
from cinic.model.lenet import PRESETS, build_model
from cinic.model.classifier import Classifier, normalize


@dataclass
class TinyDataSet:
    """The fields of cinic.data.dataset.DataSet that evaluate reads."""

    images: torch.Tensor
    labels: torch.Tensor
    files: list
    origins: list
    classes: tuple
    source: str = "/data/tiny/test"


class LookupModel(nn.Module):
    """Returns fixed logits per image: image i is filled with pixel value i.

    With mean 0 and std 1 the normalised pixel is i / 255, so the model reads
    the index back and records the batch sizes and mode it was called with.
    """

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits, dtype=torch.float32)
        self.batch_sizes = []
        self.training_flags = []

    def forward(self, x):
        self.batch_sizes.append(x.shape[0])
        self.training_flags.append(self.training)
        index = (x[:, 0, 0, 0] * 255).round().long()
        return self.logits[index]


def images_numbered(n):
    return torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, 32, 32).contiguous()


CLASSES = ("cat", "dog", "ship")
CAT, DOG, SHIP = range(3)
# (true label, logits); the prediction is the largest logit.
CASES = [
    (CAT, [2, 0, 0]),     # 0 right
    (DOG, [0, 2, 0]),     # 1 right
    (SHIP, [0, 0, 2]),    # 2 right
    (CAT, [3, 0, 0]),     # 3 right   -> first batch of 4: 100 %
    (DOG, [0, 1, 0]),     # 4 right
    (CAT, [0, 1, 0]),     # 5 cat taken for dog
    (SHIP, [0, 0, 1]),    # 6 right
    (DOG, [3, 0, 0]),     # 7 dog taken for cat   -> second batch: 50 %
    (CAT, [0, 2, -1]),    # 8 cat taken for dog
    (SHIP, [1, 0, 0.5]),  # 9 ship taken for cat  -> short last batch of 2: 0 %
]
ORIGINS = ["cifar10"] * 5 + ["imagenet"] * 5
MEAN, STD = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)


def classifier_of(model):
    return Classifier(model, MEAN, STD, CLASSES)


def tiny_dataset():
    labels = torch.tensor([label for label, _ in CASES])
    files = [f"{CLASSES[label]}/img{i}.png" for i, (label, _) in enumerate(CASES)]
    return TinyDataSet(images_numbered(len(CASES)), labels, files, list(ORIGINS), CLASSES)


def hand_loss(logits, label):
    return math.log(sum(math.exp(v) for v in logits)) - logits[label]


def hand_prob(logits, k):
    return math.exp(logits[k]) / sum(math.exp(v) for v in logits)


@pytest.fixture
def result():
    model = LookupModel([logits for _, logits in CASES])
    out = evaluate(classifier_of(model), tiny_dataset(), batch_size=4)
    assert model.batch_sizes == [4, 4, 2], "the short last batch must be part of the test"
    return out


def test_accuracy_and_loss_are_per_image_not_per_batch(result):
    assert (result["n"], result["correct"]) == (10, 6)
    assert result["accuracy"] == 60.0  # per-batch averaging would give (100 + 50 + 0) / 3 = 50
    expected_loss = sum(hand_loss(logits, label) for label, logits in CASES) / len(CASES)
    assert result["loss"] == pytest.approx(expected_loss, abs=1e-4)


def test_confusion_rows_are_true_classes(result):
    # true cat: 2 right, 2 taken for dog; true dog: 1 taken for cat; true ship: 1 taken for cat
    assert result["confusion"] == [[2, 2, 0],
                                   [1, 2, 0],
                                   [1, 0, 2]]
    assert result["classes"] == list(CLASSES)


def test_per_class_recall_and_precision(result):
    assert result["per_class"] == {"cat": 50.0, "dog": 66.67, "ship": 66.67}
    # predicted cat 4 times (2 right), dog 4 times (2 right), ship twice (both right)
    assert result["precision"] == {"cat": 50.0, "dog": 50.0, "ship": 100.0}


def test_most_confused_pairs_by_count(result):
    assert result["most_confused"] == [
        {"true": "cat", "pred": "dog", "count": 2},
        {"true": "dog", "pred": "cat", "count": 1},
        {"true": "ship", "pred": "cat", "count": 1},
    ]


def test_per_origin_accuracy(result):
    assert result["per_origin"] == {"cifar10": {"n": 5, "accuracy": 100.0},
                                    "imagenet": {"n": 5, "accuracy": 20.0}}


def test_misclassified_ranked_by_loss(result):
    assert [row["index"] for row in result["misclassified"]] == [7, 8, 5, 9]
    worst = result["misclassified"][0]
    dog_as_cat = CASES[7][1]
    assert worst == {
        "index": 7, "file": "dog/img7.png", "true": "dog", "pred": "cat",
        "p_pred": round(hand_prob(dog_as_cat, CAT), 4),
        "p_true": round(hand_prob(dog_as_cat, DOG), 4),
        "loss": round(hand_loss(dog_as_cat, DOG), 4),
    }


def test_result_is_plain_json_in_the_documented_shape(result):
    assert json.loads(json.dumps(result)) == result
    assert list(result) == ["split", "source", "compute_dtype", "n", "correct", "accuracy", "loss", "classes", "per_class",
                            "precision", "confusion", "most_confused", "per_origin", "misclassified"]
    assert (result["split"], result["source"], result["compute_dtype"]) == ("test", "/data/tiny/test", "float32")
    assert all(type(v) is int for row in result["confusion"] for v in row)


def test_misclassified_limit_and_split_name():
    model = LookupModel([logits for _, logits in CASES])
    out = evaluate(classifier_of(model), tiny_dataset(), batch_size=3, top_misclassified=2, split="valid")
    assert [row["index"] for row in out["misclassified"]] == [7, 8]
    assert out["split"] == "valid" and out["accuracy"] == 60.0


def test_classes_never_seen_or_never_predicted_score_zero():
    classes = ("cat", "dog", "truck")
    data = TinyDataSet(images_numbered(2), torch.tensor([0, 1]), ["cat/a.png", "dog/b.png"],
                       ["cifar10", "unknown"], classes)
    model = LookupModel([[1, 0, -5], [0, 1, -5]])
    out = evaluate(classifier_of(model), data)
    assert out["per_class"]["truck"] == 0.0 and out["precision"]["truck"] == 0.0
    assert out["most_confused"] == [] and out["misclassified"] == []
    assert out["per_origin"] == {"cifar10": {"n": 1, "accuracy": 100.0}, "unknown": {"n": 1, "accuracy": 100.0}}


def test_model_with_the_wrong_number_of_outputs_is_refused():
    model = LookupModel([[0.0] * 10] * len(CASES))
    with pytest.raises(EvaluationError, match="model gives 10 outputs per image but /data/tiny/test has 3 classes"):
        evaluate(classifier_of(model), tiny_dataset())


def test_empty_split_is_refused():
    empty = TinyDataSet(torch.zeros(0, 3, 32, 32, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64),
                        [], [], CLASSES)
    with pytest.raises(EvaluationError, match="test split of /data/tiny/test has no images"):
        evaluate(classifier_of(LookupModel([[0, 0, 0]])), empty)


def test_predict_logits_normalises_on_the_way_in():
    class ChannelMeans(nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3))

    images = torch.zeros(5, 3, 32, 32, dtype=torch.uint8)
    images[:, 0], images[:, 2] = 255, 51
    logits = predict_logits(Classifier(ChannelMeans(), (0.5, 0.25, 0.1), (0.5, 0.25, 0.2), CLASSES), images, batch_size=2)
    assert logits.dtype == torch.float32 and logits.device.type == "cpu"
    torch.testing.assert_close(logits, torch.tensor([[1.0, -1.0, 0.5]]).expand(5, 3))


def test_predict_logits_matches_one_big_forward_in_eval_mode():
    torch.manual_seed(0)
    model = build_model(PRESETS["batchnorm"])  # BN behaves differently in train mode
    images = torch.randint(0, 256, (7, 3, 32, 32), dtype=torch.uint8)
    mean, std = (0.47, 0.47, 0.43), (0.24, 0.24, 0.26)
    classifier = Classifier(model, mean, std, [f"c{i}" for i in range(10)])
    logits = predict_logits(classifier, images, batch_size=3)
    assert not model.training, "a Classifier's network is in eval mode from the start"
    assert not logits.requires_grad
    with torch.no_grad():
        expected = model(normalize(images, torch.tensor(mean), torch.tensor(std)))
    # On a CPU with bf16 in hardware predictions run in bf16 (as training does): close to fp32, not equal.
    bf16 = uses_bf16(torch.device("cpu"), True)
    torch.testing.assert_close(logits, expected, **(dict(rtol=0.05, atol=0.05) if bf16 else {}))


def test_a_classifier_puts_its_network_in_eval_mode_once_and_predicting_never_flips_it():
    model = LookupModel([[0, 1, 2]]).train()
    classifier = classifier_of(model)
    assert not model.training
    predict_logits(classifier, images_numbered(1))
    predict_logits(classifier, images_numbered(1))
    assert model.training_flags == [False, False] and not model.training


def test_predict_probs_rows_sum_to_one():
    probs = predict_probs(classifier_of(LookupModel([[2, 0, 0], [0, 0, 5]])), images_numbered(2))
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(2))
    assert probs[1].argmax() == 2
    assert probs[0, 0].item() == pytest.approx(hand_prob([2, 0, 0], 0))


def test_predict_logits_refuses_bad_images():
    with pytest.raises(EvaluationError, match="uint8 tensor N x 3 x H x W"):
        predict_logits(classifier_of(LookupModel([[0, 0, 0]])), torch.zeros(1, 3, 32, 32))
    with pytest.raises(EvaluationError, match="empty"):
        predict_logits(classifier_of(LookupModel([[0, 0, 0]])), torch.zeros(0, 3, 32, 32, dtype=torch.uint8))


def test_top_k_orders_by_probability():
    assert top_k(torch.tensor([0.1, 0.6, 0.3]), CLASSES, k=2) == [
        {"class": "dog", "prob": pytest.approx(0.6)}, {"class": "ship", "prob": pytest.approx(0.3)}]
    everything = top_k([0.1, 0.6, 0.3], CLASSES, k=5)
    assert [row["class"] for row in everything] == ["dog", "ship", "cat"]
    assert all(type(row["prob"]) is float for row in everything)
    with pytest.raises(EvaluationError, match="2 probabilities for 3 class names"):
        top_k([0.5, 0.5], CLASSES)


def test_classify_pictures_takes_hwc_pictures_as_predict_takes_nchw_images():
    torch.manual_seed(0)
    model = build_model(PRESETS["base"])
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    pictures = [image.permute(1, 2, 0).numpy() for image in images]  # what to_model_input gives
    classifier = Classifier(model, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), [f"c{i}" for i in range(10)])
    expected = [top_k(row, classifier.classes, 2) for row in predict_probs(classifier, images)]
    assert classify_pictures(classifier, pictures, 2) == expected
