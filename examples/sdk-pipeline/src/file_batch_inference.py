"""File parallel step: for every file of the mini-batch, write a one-line
summary (name and size) into --job_output_path."""

import argparse
from pathlib import Path

OUTPUT_PATH = None


def init():
    global OUTPUT_PATH
    parser = argparse.ArgumentParser(allow_abbrev=False, description="ParallelRunStep Agent")
    parser.add_argument("--job_output_path", type=str, default=0)
    args, _ = parser.parse_known_args()
    OUTPUT_PATH = Path(args.job_output_path)
    OUTPUT_PATH.mkdir(parents=True, exist_ok=True)
    print("Pass through init done")


def run(mini_batch):
    # mini_batch is a list of file paths for file data
    done = []
    for file_path in mini_batch:
        file = Path(file_path)
        print(f"Processing {file}")
        assert file.exists()
        data = file.read_bytes()
        (OUTPUT_PATH / (file.name + ".summary")).write_text(f"{file.name} {len(data)} bytes\n")
        done.append(file.name)
    return done
