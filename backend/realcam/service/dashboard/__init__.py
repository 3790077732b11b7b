"""The dashboard: a studio's view of the queue in the browser, served by `realcam serve` itself (issue 31).

    static/        the page: index.html, dashboard.css, dashboard.js, icon.svg (no CDN, no fonts, no
                   scripts from elsewhere; shipped in the wheel as package data)
    sessions.py    a login's session cookie (the token itself never leaves the login request) and the
                   rate limit on wrong tokens
    views.py       what the page shows of a job, the server and its slots; the posters

The routes are routes/dashboard.py; the guard (guard.py) accepts a session cookie as it accepts the token,
with one more rule for changes made with a cookie (they must come from a page of this server's own origin).
"""
