"""Mean-field game learners: exact fictitious play and mirror descent, SPG and RSPG."""
