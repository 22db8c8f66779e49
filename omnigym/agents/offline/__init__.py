"""Offline goal-conditioned learners on one dataset loop: GCIQL, HIQL, relativised options."""
