#!/usr/bin/env python3
"""Runs the composite action ci/action.yml here, the way a GitHub runner does: each step's `run`
under `bash --noprofile --norc -eo pipefail`, its `env` with `${{ inputs.* }}` and
`${{ github.action_path }}` expanded, GITHUB_OUTPUT / GITHUB_PATH / GITHUB_ENV /
GITHUB_STEP_SUMMARY files honoured between steps, and the action's outputs evaluated from the
steps' outputs. Any other expression is refused rather than guessed.

    run_locally.py ACTION_YML --input NAME=VALUE ... --runner-temp DIR

Prints {"outputs": {...}, "summary": "..."} as JSON; exits with the failing step's status."""

import argparse
import json
import os
import re
import subprocess
import sys

import yaml

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def expand(text, context, unset_step_outputs_empty=False):
    def value(match):
        name = match.group(1)
        if name not in context and unset_step_outputs_empty and name.startswith("steps."):
            return ""  # as on GitHub: an output no step set is empty
        if name not in context:
            raise SystemExit(f"run_locally: unsupported expression ${{{{ {name} }}}} in {text!r}")
        return context[name]

    return EXPRESSION.sub(value, str(text))


def read_outputs(path):
    """GITHUB_OUTPUT lines: name=value, or name<<DELIMITER ... DELIMITER."""
    outputs = {}
    lines = open(path, encoding="utf-8").read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            i += 1
            while lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            outputs[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
        i += 1
    return outputs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("action")
    parser.add_argument("--input", action="append", default=[])
    parser.add_argument("--runner-temp", required=True)
    args = parser.parse_args()

    action_path = os.path.dirname(os.path.abspath(args.action))
    action = yaml.safe_load(open(args.action, encoding="utf-8"))
    if action["runs"]["using"] != "composite":
        raise SystemExit("run_locally: only composite actions run here")
    given = dict(item.split("=", 1) for item in args.input)
    declared = action.get("inputs", {})
    unknown = set(given) - set(declared)
    if unknown:
        raise SystemExit(f"run_locally: the action has no input(s) {sorted(unknown)}")
    context = {"github.action_path": action_path}
    for name, spec in declared.items():
        if name not in given and spec.get("required"):
            raise SystemExit(f"run_locally: input {name} is required")
        context[f"inputs.{name}"] = given.get(name, str(spec.get("default", "")))

    temp = args.runner_temp
    os.makedirs(temp, exist_ok=True)
    path_file = os.path.join(temp, "github_path")
    env_file = os.path.join(temp, "github_env")
    summary_file = os.path.join(temp, "step_summary")
    for f in (path_file, env_file, summary_file):
        open(f, "a").close()
    for number, step in enumerate(action["runs"]["steps"]):
        name = step.get("name", f"step {number}")
        if "run" not in step or step.get("shell") != "bash":
            raise SystemExit(f"run_locally: step {name!r} is not a bash run step")
        output_file = os.path.join(temp, f"output_{number}")
        open(output_file, "w").close()
        env = dict(os.environ)
        for line in open(env_file, encoding="utf-8").read().splitlines():
            if "=" in line:
                key, value = line.split("=", 1)
                env[key] = value
        extra_path = [p for p in open(path_file, encoding="utf-8").read().splitlines() if p]
        env["PATH"] = os.pathsep.join(list(reversed(extra_path)) + [env.get("PATH", "")])
        env.update(
            GITHUB_ACTION_PATH=action_path,
            GITHUB_OUTPUT=output_file,
            GITHUB_PATH=path_file,
            GITHUB_ENV=env_file,
            GITHUB_STEP_SUMMARY=summary_file,
            RUNNER_TEMP=temp,
        )
        for key, value in (step.get("env") or {}).items():
            env[key] = expand(value, context)
        script = expand(step["run"], context)
        print(f"run_locally: step {name}", file=sys.stderr, flush=True)
        status = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            env=env,
            # The step's log goes to stderr: stdout carries only this runner's JSON.
            stdout=sys.stderr,
        ).returncode
        if status != 0:
            print(f"run_locally: step {name!r} failed with status {status}", file=sys.stderr)
            sys.exit(status)
        if "id" in step:
            for key, value in read_outputs(output_file).items():
                context[f"steps.{step['id']}.outputs.{key}"] = value
    outputs = {}
    for name, spec in action.get("outputs", {}).items():
        outputs[name] = expand(spec["value"], context, unset_step_outputs_empty=True)
    print(json.dumps({"outputs": outputs, "summary": open(summary_file).read()}))


if __name__ == "__main__":
    main()
