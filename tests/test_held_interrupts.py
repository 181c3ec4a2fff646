"""merbench.held_interrupts: Ctrl-C and SIGTERM held back inside ``held()``, let through inside ``allowed()``."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from merbench.held_interrupts import HeldInterrupts


class Stopped(KeyboardInterrupt):
    pass


@pytest.fixture
def command_handlers():
    """The command's own handlers, as merbench's CLI installs them: SIGINT and SIGTERM raise."""
    def stop(number, frame):
        raise Stopped(number)

    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    yield
    for number, handler in previous.items():
        signal.signal(number, handler)


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_inside_held_is_raised_when_the_held_part_ends(command_handlers, number):
    interrupts = HeldInterrupts()
    done = []
    with interrupts.installed(), pytest.raises(Stopped) as stopped:
        with interrupts.held():
            os.kill(os.getpid(), number)
            done.append("write")
        done.append("after")
    assert done == ["write"] and stopped.value.args == (number,)


def test_allowed_lets_a_signal_through_and_raises_one_that_came_while_held(command_handlers):
    interrupts = HeldInterrupts()
    with interrupts.installed(), interrupts.held():
        with pytest.raises(Stopped):
            with interrupts.allowed():
                os.kill(os.getpid(), signal.SIGINT)
                pytest.fail("not interrupted inside allowed()")
        os.kill(os.getpid(), signal.SIGINT)  # held again
        with pytest.raises(Stopped):
            with interrupts.allowed():
                pytest.fail("the held signal was not raised on entering allowed()")


def test_the_handlers_are_put_back_and_other_threads_change_nothing(command_handlers):
    before = signal.getsignal(signal.SIGINT)
    with HeldInterrupts().installed():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before
    seen = []
    thread = threading.Thread(target=lambda: seen.append(HeldInterrupts().installed().__enter__() is not None))
    thread.start()
    thread.join()
    assert seen == [True] and signal.getsignal(signal.SIGINT) is before
