"""The report formats (``orchestrate report --format``) and their file extensions: a leaf the
command line reads when it starts, without the report's plotting stack."""

FORMAT_EXTENSIONS = {"md": "md", "csv": "csv", "latex": "tex"}
FORMATS = tuple(FORMAT_EXTENSIONS)
