"""CINIC-10 Explorer: LeNet-5 variants on CINIC-10, headless or in the app."""

__version__ = "0.1.0"
