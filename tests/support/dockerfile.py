"""Reads a Dockerfile the way the tests need it: its instructions (continuation lines joined,
comments dropped), the base images its FROM lines name, and its HEALTHCHECK command. The tests
take these from the file instead of copying them, so an edit to the Dockerfile is what gets
tested."""
import json
import re


def instructions(path):
    """[(KEYWORD, arguments)] in file order; a trailing backslash joins the next line."""
    result, pending = [], ""
    with open(path, encoding="utf-8") as f:
        for line in f:
            stripped = line.strip()
            if not pending and (not stripped or stripped.startswith("#")):
                continue
            if stripped.startswith("#"):  # a comment inside a continued instruction
                continue
            if stripped.endswith("\\"):
                pending += stripped[:-1] + " "
                continue
            keyword, _, arguments = (pending + stripped).partition(" ")
            result.append((keyword.upper(), arguments.strip()))
            pending = ""
    return result


def base_images(path):
    """The images the FROM lines pull, without references to earlier stages (FROM build)."""
    stages, bases = set(), []
    for keyword, arguments in instructions(path):
        if keyword != "FROM":
            continue
        words = [w for w in arguments.split() if not w.startswith("--")]
        if words[0] not in stages and words[0] not in bases:
            bases.append(words[0])
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2])
    return bases


def qualified(image):
    """The full name Docker resolves a short one to: debian:12 -> docker.io/library/debian:12."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return image
    return "docker.io/" + (image if slash else "library/" + image)


def _seconds(duration):
    """A Dockerfile duration (5s, 1m30s, 500ms) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a Dockerfile duration: {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def healthcheck(path):
    """(argv, timeout in seconds) of the last HEALTHCHECK: the exec form's JSON array, or the shell
    form run by /bin/sh -c, as Docker runs them; timeout is --timeout (Docker's default 30 s)."""
    found = [arguments for keyword, arguments in instructions(path) if keyword == "HEALTHCHECK"]
    assert found, f"{path} has no HEALTHCHECK"
    options, timeout = found[-1], 30.0
    while options.startswith("--"):
        option, _, options = options.partition(" ")
        if option.startswith("--timeout="):
            timeout = _seconds(option.split("=", 1)[1])
        options = options.lstrip()
    keyword, _, command = options.partition(" ")
    assert keyword.upper() == "CMD", f"HEALTHCHECK {options!r}: expected CMD (NONE disables it)"
    command = command.strip()
    argv = json.loads(command) if command.startswith("[") else ["/bin/sh", "-c", command]
    return argv, timeout
