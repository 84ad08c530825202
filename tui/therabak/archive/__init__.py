"""The ``.therabak`` archive format: header, key slots, sealed entries, index, trailer.

See FORMAT.md in this folder for the bytes.
"""
