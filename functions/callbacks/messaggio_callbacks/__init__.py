"""The callbacks function: the platform's delivery, seen and reply reports (docs/protocol.md
section E) and the partner's status queries (section G), behind one REST API."""
