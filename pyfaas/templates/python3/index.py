"""Entry point of the classic python3 template: request body in, handler's result out."""

import sys

from function import handler


def get_stdin():
    return sys.stdin.read()


if __name__ == "__main__":
    ret = handler.handle(get_stdin())
    if ret is not None:
        print(ret)
