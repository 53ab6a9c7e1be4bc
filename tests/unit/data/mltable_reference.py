"""Reference reader for the differential test: runs under an interpreter that
has Microsoft's ``mltable`` package (maybe a different venv) and prints each
table as JSON: ``{"case": {"columns": [...], "dtypes": [...], "rows": [[...]]} | {"error": "..."}}``.

Usage: python mltable_reference.py FOLDER [FOLDER...]
"""

import json
import sys
import warnings


def describe(folder):
    import mltable
    import pandas

    try:
        frame = mltable.load(folder).to_pandas_dataframe()
    except Exception as exc:  # the caller compares errors too
        return {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    rows = []
    for row in frame.itertuples(index=False):
        out = []
        for v in row:
            if v is None or (isinstance(v, float) and v != v) or (v is pandas.NaT):
                out.append(None)
            elif isinstance(v, pandas.Timestamp):
                out.append(v.isoformat())
            elif hasattr(v, "tolist"):
                out.append(v.tolist())
            elif hasattr(v, "item"):
                out.append(v.item())
            else:
                out.append(v)
        rows.append(out)
    return {"columns": [str(c) for c in frame.columns], "dtypes": [str(t) for t in frame.dtypes], "rows": rows}


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    print(json.dumps({folder: describe(folder) for folder in sys.argv[1:]}, default=str))
