"""Split the raw dataset into a folder of files (for the file parallel step)
and an MLTable of rows (for the tabular parallel step)."""

import argparse
import os
import shutil

parser = argparse.ArgumentParser()
parser.add_argument("--input_data", required=True)
parser.add_argument("--file_output_data", required=True)
parser.add_argument("--tabular_output_data", required=True)
args = parser.parse_args()

print("input_data:", args.input_data, sorted(os.listdir(args.input_data)))

files_in = os.path.join(args.input_data, "mnist-data")
os.makedirs(args.file_output_data, exist_ok=True)
for name in sorted(os.listdir(files_in)):
    shutil.copy(os.path.join(files_in, name), os.path.join(args.file_output_data, name))

os.makedirs(args.tabular_output_data, exist_ok=True)
shutil.copy(os.path.join(args.input_data, "iris.csv"), os.path.join(args.tabular_output_data, "iris.csv"))
with open(os.path.join(args.tabular_output_data, "MLTable"), "w") as fh:
    fh.write(
        "paths:\n  - file: ./iris.csv\ntransformations:\n  - read_delimited:\n      delimiter: ','\n      encoding: utf8\n      header: all_files_same_headers\n"
    )
print("prepared", len(os.listdir(args.file_output_data)), "files and iris.csv")
