"""The live view of a running service (`make run`, `make deploy`): a table on a terminal, plain lines otherwise.

It reads the agents' logs through devnet.status and the host supervisor's events.
"""

import time
from datetime import datetime

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from devnet.status import Notice, ServiceStatus, short_address
from devnet.supervisor import Supervisor

REFRESH_SECONDS = 1.0


def clock(seconds: float) -> str:
    """h:mm:ss."""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def footer(status: ServiceStatus, elapsed: float) -> str:
    """Elapsed time, accepted and incomplete periods, mean period time."""
    period_time = status.mean_period_seconds
    return (
        f"elapsed {clock(elapsed)}   accepted periods {len(status.accepted_periods)}   "
        f"incomplete periods {len(status.incomplete_periods)}   "
        f"mean period {'-' if period_time is None else f'{period_time:.1f} s'}"
    )


def notice_text(notice: Notice) -> Text:
    """A notice with its local time, red if it is a problem."""
    stamp = datetime.fromtimestamp(notice.at).strftime("%H:%M:%S")
    return Text(f"{stamp} {notice.text}", style="red" if notice.error else "")


def table(status: ServiceStatus, elapsed: float) -> Group:
    """The live table: one row per agent, then the footer."""
    view = Table(expand=False)
    for column in ("agent", "round", "period", "global round", "validation accuracy", "last event"):
        view.add_column(column, overflow="fold")
    for agent in status.agents:
        view.add_row(
            f"{agent.name} {short_address(agent.address)}",
            agent.round,
            "-" if agent.period is None else str(agent.period),
            str(agent.global_round),
            "-" if agent.accuracy is None else f"{agent.accuracy:.4f}",
            notice_text(agent.last_notice) if agent.last_notice else Text("-"),
        )
    return Group(view, Text(footer(status, elapsed)))


def plain_line(notice: Notice, status: ServiceStatus) -> str:
    """One plain log line: time, agent name and short address, what happened."""
    addresses = {agent.name: agent.address for agent in status.agents}
    who = notice.agent
    if who in addresses:
        who = f"{who} {short_address(addresses[who])}"
    stamp = datetime.fromtimestamp(notice.at).strftime("%H:%M:%S")
    return f"[{stamp}] [{'ERROR' if notice.error else 'INFO'}] [{who}] {notice.text}"


def watch(supervisor: Supervisor, status: ServiceStatus, console: Console) -> None:
    """Refresh until Ctrl-C: a live table on a terminal, plain lines otherwise."""
    started = time.monotonic()
    if console.is_terminal:
        with Live(table(status, 0), console=console, auto_refresh=False) as live:
            while True:
                status.update(supervisor.events)
                live.update(table(status, time.monotonic() - started), refresh=True)
                time.sleep(REFRESH_SECONDS)
    periods_reported = 0
    while True:
        for notice in status.update(supervisor.events):
            print(plain_line(notice, status), flush=True)
        closed = status.closed_periods
        if len(closed) > periods_reported:
            periods_reported = len(closed)
            print(f"[{datetime.now():%H:%M:%S}] [INFO] [service] period {closed[-1]} closed; "
                  f"{footer(status, time.monotonic() - started)}", flush=True)
        time.sleep(REFRESH_SECONDS)
