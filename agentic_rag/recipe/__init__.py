"""Recipes: the one configuration path for `train`, `eval`, `ask` and the benchmarks.

`sections.py` holds every section of a recipe as a dataclass whose fields document themselves,
`parse.py` turns YAML and `key=value` overrides into a `Recipe`, and `docs.py` renders the
reference (`agentic-rag recipe`, docs/recipes.md).
"""

from retriever_index.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "agentic_rag.recipe.parse": (
            "RECIPE_FILE",
            "Recipe",
            "derive",
            "load_recipe",
            "parse_recipe",
            "recipe_beside",
            "save_recipe",
        ),
    },
)
