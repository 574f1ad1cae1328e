#!/usr/bin/env bash
# One entry point: set up (idempotent), then start the app or run the tests.
#   ./run.sh app    set up and start the app (the demo data set made first when there is no data set)
#   ./run.sh test   set up and run the test suite
#   ./run.sh setup  only set up .venv
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PY="$VENV/bin/python"

setup() {
    if [ ! -x "$PY" ]; then
        echo "creating $VENV ..."
        python3 -m venv "$VENV"
    fi
    # A stamp of the requirement files skips pip when nothing changed.
    local stamp="$VENV/.requirements.sha1"
    local want
    want=$(cat requirements.txt requirements-dev.txt | sha1sum | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "installing requirements into $VENV (torch is large: a few minutes the first time) ..."
        "$PY" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
        echo "$want" > "$stamp"
    fi
}

case "${1:-app}" in
    setup)
        setup ;;
    app)
        setup
        # The data set the app's pages will use: the one chosen on the Data page, else CINIC-10, else the
        # demo set, made now if it is missing, so the app comes up ready to train.
        "$PY" -c "from cinic.data import choice; choice.ready_for_first_start()"
        exec "$PY" -m streamlit run app.py "${@:2}" ;;
    test)
        setup
        exec "$PY" -m pytest -q "${@:2}" ;;
    *)
        echo "usage: ./run.sh [app|test|setup] [extra args]" >&2
        exit 2 ;;
esac
