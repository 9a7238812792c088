"""QA datasets: loaders for every benchmark format (`qa.py`) and the question sets a run is made of
(concatenated specs, seeded samples, the held-out split: `splits.py`)."""
