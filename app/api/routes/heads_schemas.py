"""Response models of /api/heads: stored corpus analyses of attention heads (app.scale writes them)."""

from pydantic import BaseModel, ConfigDict, Field, JsonValue

EXAMPLE_INFO: dict[str, JsonValue] = {
    "name": "minilm-l6-mix-dev",
    "model": "minilm-l6",
    "corpus": "mix-dev",
    "corpus_description": "English side of the everyday EN-ES mix, dev split (data/en_es_mix/dev.jsonl), first 2000",
    "sentences": 2000,
    "created": "2026-11-30T16:00:00Z",
    "kinds": ["self"],
}


class HeadAnalysisInfo(BaseModel):
    """One stored analysis, as listed."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_INFO]})

    name: str  # folder under reports/heads/, the id to fetch it by
    model: str  # the model id it ran
    corpus: str  # built-in split name or file stem
    corpus_description: str  # where the sentences came from
    sentences: int  # sentences in the corpus
    created: str  # UTC time it was merged, ISO 8601
    kinds: list[str]  # attention kinds analysed (self, encoder_self, decoder_self, cross)


class HeadKindSummary(BaseModel):
    """Every head of one attention kind over the corpus."""

    kind: str  # self, encoder_self, decoder_self or cross
    layers: int  # L
    heads: int  # H per layer
    sentences: int  # sentences this kind was measured on
    means: dict[str, list[list[float | None]]]  # statistic -> (L, H) corpus mean; null where it does not apply
    top: list[list[list[list[int]]]]  # [layer][head][statistic, in `statistics` order] -> sentence ids, highest first
    js_distance: list[list[float | None]]  # (L*H, L*H) mean Jensen-Shannon distance; head k is layer k // H, head k % H
    clusters: list[int]  # (L*H,) cluster label of each head (average linkage on js_distance)


class HeadAnalysis(BaseModel):
    """A stored analysis: per-head statistics, most telling sentences, distances and clusters."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **{k: v for k, v in EXAMPLE_INFO.items() if k not in ("name", "kinds")},
                    "version": 1,
                    "corpus_sha256": "9f2c...",
                    "skipped": [],
                    "statistics": {"prev": "attention on the previous position"},
                    "kinds": [
                        {
                            "kind": "self",
                            "layers": 1,
                            "heads": 2,
                            "sentences": 2000,
                            "means": {"prev": [[0.12, 0.87]]},
                            "top": [[[[17, 4]], [[803, 12]]]],
                            "js_distance": [[0.0, 0.61], [0.61, 0.0]],
                            "clusters": [1, 2],
                        }
                    ],
                    "texts": {"4": "Where is the station?"},
                }
            ]
        }
    )

    version: int  # format version of summary.json
    model: str
    corpus: str
    corpus_description: str
    corpus_sha256: str  # of the sentences, joined by newlines
    sentences: int
    skipped: list[int]  # sentence ids the model refused as input
    created: str
    statistics: dict[str, str] = Field(description="statistic name -> what it measures, in the order of `top`")
    kinds: list[HeadKindSummary]
    texts: dict[str, str]  # sentence id -> text, for every id in `top`
