"""LTI 1.3 tool: an LMS launches Proctor, which provisions users and courses from the claims."""
