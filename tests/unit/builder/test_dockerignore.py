"""``.dockerignore`` matching, checked against the cases Docker's own matcher is tested on."""

from __future__ import annotations

import pytest

from pyfaas.builder.dockerignore import DockerIgnore
from pyfaas.errors import BadRequest


def excludes(patterns: list[str], path: str) -> bool:
    return DockerIgnore.parse("\n".join(patterns)).excludes(path)


# (pattern, path, excluded): one pattern against a context path, where a match of
# any parent directory excludes the path too (moby/patternmatcher's
# MatchesOrParentMatches cases).
SINGLE = [
    ("**", "file", True),
    ("**/", "file", True),
    ("**", "dir/file", True),
    ("**/**", "dir/file", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/dir2/file", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\\\", "a\\", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    # Go's filepath.Match cases, through the same matcher.
    ("*", "abc", True),
    ("a*", "ab/c", True),  # "ab" is a matching parent
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[^c]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a?b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    # Anchored at the root, unlike .gitignore.
    ("*.pyc", "a.pyc", True),
    ("*.pyc", "src/a.pyc", False),
    ("/secret.txt", "secret.txt", True),
    ("./build/../secret.txt", "secret.txt", True),
    ("node_modules", "node_modules/x/y.js", True),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), SINGLE)
def test_one_pattern(pattern: str, path: str, expected: bool) -> None:
    assert excludes([pattern], path) is expected


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        (["**", "!util/docker/web"], "util/docker/web/foo", False),
        (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
        (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3-py3-none-any.whl", False),
        (["docs", "!docs/README.md"], "docs/README.md", False),
        (["docs/", "!docs/README.md"], "docs/README.md", False),
        (["docs/*", "!docs/README.md"], "docs/README.md", False),
        (["docs/*", "!docs/README.md"], "docs/other.md", True),
        (["!fileutils.go", "*.go"], "fileutils.go", True),
        (["*.go", "!fileutils.go"], "fileutils.go", False),
        (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
        (["*.md", "!README*.md", "README-secret.md"], "README.md", False),
    ],
)
def test_last_matching_pattern_decides(patterns: list[str], path: str, expected: bool) -> None:
    assert excludes(patterns, path) is expected


def test_the_context_root_is_never_excluded() -> None:
    assert not excludes(["*", "**"], ".")


def test_comments_blank_lines_and_spaces() -> None:
    ignore = DockerIgnore.parse(
        "\ufeff# a comment\n\n   \n  secret.txt  \n  # not a comment: a pattern\n ! keep.txt\n"
    )
    assert [p.text for p in ignore.patterns] == [
        "secret.txt",
        "# not a comment: a pattern",
        "keep.txt",
    ]
    assert ignore.patterns[-1].exception
    assert ignore.excludes("secret.txt")
    assert ignore.has_exceptions


@pytest.mark.parametrize("bad", ["!", "[", "a[", "[^bc", "\\", "[]a]", "[-]", "[x-]", "[a-b-c]"])
def test_malformed_patterns_are_one_line_errors(bad: str) -> None:
    with pytest.raises(BadRequest, match=r"\.dockerignore: .*line 2"):
        DockerIgnore.parse(f"ok\n{bad}\n")
