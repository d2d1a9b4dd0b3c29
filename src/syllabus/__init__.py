"""syllabus: teach language models with language models.

The public core is four things: the :class:`Example` record, the :class:`LLM` interface
(named by model specs through :func:`load_llm`), steps over records run by a resumable
:class:`Pipeline`, and :class:`Registry`. Importing this package imports no torch,
transformers, vLLM or llama.cpp; backends load them when a spec names them.
"""

from syllabus.errors import (
    BackendError,
    CapabilityError,
    ConfigError,
    DataError,
    MissingDependencyError,
    SyllabusError,
    UnknownNameError,
)
from syllabus.formats import (  # pyarrow and datasets load only when these functions run
    detect_format,
    from_hf_dataset,
    read_any,
    read_parquet,
    to_hf_dataset,
    write_any,
    write_parquet,
)
from syllabus.jsonl import read_jsonl, write_jsonl
from syllabus.llm import (
    LLM,
    CachedLLM,
    GenerateRequest,
    Generation,
    Loglikelihood,
    LoglikelihoodRequest,
    RequestCache,
    SamplingParams,
    load_llm,
)
from syllabus.record import Example
from syllabus.registry import Registry

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "CachedLLM",
    "CapabilityError",
    "ConfigError",
    "DataError",
    "Example",
    "GenerateRequest",
    "Generation",
    "LLM",
    "Loglikelihood",
    "LoglikelihoodRequest",
    "MissingDependencyError",
    "RequestCache",
    "Registry",
    "SamplingParams",
    "SyllabusError",
    "UnknownNameError",
    "__version__",
    "detect_format",
    "from_hf_dataset",
    "load_llm",
    "read_any",
    "read_jsonl",
    "read_parquet",
    "to_hf_dataset",
    "write_any",
    "write_jsonl",
    "write_parquet",
]
