"""The one table every `make bench` figure is printed in: name, measured value, baseline, target, verdict."""


def row(name: str, value: str, baseline: str, target: str, met: bool | None) -> str:
    verdict = "" if met is None else ("met" if met else "NOT MET")
    return f"{name:<44}{value:>16}  {baseline:>30}  {target:<18}{verdict}"
