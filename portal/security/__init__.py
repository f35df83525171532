"""Security building blocks shared by every blueprint: client IP, headers/CSP, signed tokens."""
