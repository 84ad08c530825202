"""Widgets of the app: the category tree, password inputs, the retry panel, pickers."""
