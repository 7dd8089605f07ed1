"""The web page (``static/``): plain HTML, CSS and JavaScript served by ``synesthete.server``."""
