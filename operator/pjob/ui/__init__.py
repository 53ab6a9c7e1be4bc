"""``pjob ui``: a read-only job page served on 127.0.0.1 (``pjob.ui.server``,
the data it shows from ``pjob.ui.pages``; the page itself is ``index.html``,
``app.js`` and ``app.css`` in this package: no CDN, no build step)."""
