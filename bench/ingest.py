"""Ingest throughput, and the ratio of the whole ingest to model.encode of the same chunks.

    python bench/ingest.py --limit 200          # the first 200 articles of corpus-dev
    python bench/ingest.py                      # all of it (about 20 minutes here)

Both timings run in one process, one after the other, with the model already loaded, so the
ratio is what the pipeline (reading, chunking, tokenizing, writing Chroma) adds to embedding.
"""

from __future__ import annotations

import argparse
import gzip
import resource
import tempfile
import time
from pathlib import Path

from _common import CORPUS

from retrieval.config import Settings
from retrieval.engine import Engine
from retrieval.index.torch_encoder import TorchEncoder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--limit", type=int, default=200, help="first N articles (0: all)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        with gzip.open(args.corpus, "rt", encoding="utf-8") as f, open(corpus, "w") as out:
            for k, line in enumerate(f):
                if args.limit and k >= args.limit:
                    break
                out.write(line)
        encoder = TorchEncoder(Settings(_env_file=None).resolved_model_path)
        encoder.encode(["warm up"] * 64)
        engine = Engine(
            Settings(data_dir=Path(tmp) / "data", _env_file=None), document_encoder=encoder
        )

        t = time.perf_counter()
        report = engine.ingest([corpus])
        ingest_s = time.perf_counter() - t

        ingester = engine.parts.ingester()
        from retrieval.intake.articles import load_path

        texts = [c.embed_text for a in load_path(corpus, on_error=print) for c in ingester.chunk(a)]
        t = time.perf_counter()
        encoder.encode(texts, batch_size=engine.settings.embed_batch_size)
        encode_s = time.perf_counter() - t

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"articles            {report.added}")
    print(f"chunks              {report.chunks}  ({len(texts)} re-chunked for model.encode)")
    print(f"tokens              {report.tokens}")
    print(
        f"whole ingest        {ingest_s:.1f} s   {report.chunks / ingest_s:.1f} chunks/s   "
        f"{report.tokens / ingest_s:,.0f} tokens/s"
    )
    print(f"  of which encode   {report.encode_seconds:.1f} s")
    print(f"model.encode alone  {encode_s:.1f} s   {len(texts) / encode_s:.1f} chunks/s")
    print(f"ratio ingest/encode {ingest_s / encode_s:.3f}   (target <= 1.15)")
    print(f"peak RSS            {rss_mb:.0f} MB (this process: model + ingest)")


if __name__ == "__main__":
    main()
