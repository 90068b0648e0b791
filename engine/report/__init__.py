"""Reports generated from the store (make.py), the facts they are computed from (facts.py),
their content per kind (build.py), their formats (render.py), run comparison (diff.py), and
the lessons kept for later runs (knowledge.py).

May import model, plan, store and watch."""
