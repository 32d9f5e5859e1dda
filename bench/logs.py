"""Driver of bench/logs.sh: one container printing N lines, under plain Docker (json-file, the
baseline, and local, for reference; read with `docker logs --timestamps`) and as a Berth task with
the awslogs driver (read back with GetLogEvents), sides rotating; prints the figure line.

  logs.py cluster URL CLUSTER                 creates the cluster
  logs.py run URL CLUSTER LINES ROUNDS        the rounds and the figure
"""

import statistics
import subprocess
import sys
import time

import benchlib

IMAGE = "berth-demo:latest"
GROUP = "/bench/logs"
# A round that has not finished in this long failed.
ROUND_LIMIT_S = 600


def client(url, service):
    return benchlib.client(service, url, retries={"max_attempts": 1})


def docker_time_ms(stamp):
    """A `docker logs --timestamps` stamp as epoch milliseconds (float)."""
    return benchlib.docker_timestamp(stamp) * 1000


def docker_round(lines, driver):
    """Lines per second the engine's own log took in."""
    container = subprocess.run(
        ["docker", "run", "-d", "--label", "berth-bench=1", "--log-driver", driver, IMAGE,
         "log", "--lines", str(lines)], check=True, capture_output=True, text=True).stdout.strip()
    try:
        deadline = time.monotonic() + ROUND_LIMIT_S
        last = f"line {lines}"
        while True:
            tail = subprocess.run(["docker", "logs", "--timestamps", "--tail", "1", container],
                                  check=True, capture_output=True, text=True).stdout.strip()
            if tail.endswith(" " + last):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"docker round: line {lines} did not arrive within {ROUND_LIMIT_S} s")
            time.sleep(0.05)
        stamps = subprocess.run(["docker", "logs", "--timestamps", container], check=True,
                                capture_output=True, text=True).stdout.splitlines()
        assert len(stamps) == lines, f"docker logs has {len(stamps)} lines, not {lines}"
        first, end = docker_time_ms(stamps[0].split(" ")[0]), docker_time_ms(stamps[-1].split(" ")[0])
        return lines / max(end - first, 1.0) * 1000
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)


def berth_round(url, cluster, family, lines, round_number):
    """Lines per second into CloudWatch Logs, and every line's lag (ms)."""
    ecs, logs = client(url, "ecs"), client(url, "logs")
    task = ecs.run_task(cluster=cluster, taskDefinition=family)["tasks"][0]["taskArn"]
    stream = f"round{round_number}/printer/{task.rsplit('/', 1)[1]}"
    try:
        deadline = time.monotonic() + ROUND_LIMIT_S
        last = f"line {lines}"
        while True:
            try:
                tail = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=1)["events"]
            except logs.exceptions.ResourceNotFoundException:
                tail = []
            if tail and tail[-1]["message"] == last:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"berth round: line {lines} did not arrive within {ROUND_LIMIT_S} s")
            time.sleep(0.05)
        events, token = [], None
        while True:
            kwargs = {"nextToken": token} if token else {"startFromHead": True}
            page = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, **kwargs)
            events += page["events"]
            if page["nextForwardToken"] == token:
                break
            token = page["nextForwardToken"]
        messages = [e["message"] for e in events]
        assert messages == [f"line {i}" for i in range(1, lines + 1)], "lines missing, repeated or out of order"
        elapsed = events[-1]["ingestionTime"] - events[0]["timestamp"]
        # Where the time went: the container writing (the engine's stamps, first to last line),
        # then the shipping left after the last line was written; and how many batches.
        written = events[-1]["timestamp"] - events[0]["timestamp"]
        batches = len({e["ingestionTime"] for e in events})
        print(f"round {round_number} berth: written in {written} ms, the last line visible "
              f"{events[-1]['ingestionTime'] - events[-1]['timestamp']} ms after it was written, "
              f"{batches} distinct ingestion times", file=sys.stderr)
        return lines / max(elapsed, 1) * 1000, [e["ingestionTime"] - e["timestamp"] for e in events]
    finally:
        ecs.stop_task(cluster=cluster, task=task)


def main(argv):
    command, url, cluster = argv[1], argv[2], argv[3]
    if command == "cluster":
        client(url, "ecs").create_cluster(clusterName=cluster)
        client(url, "logs").create_log_group(logGroupName=GROUP)
        return
    lines, rounds = int(argv[4]), int(argv[5])
    ecs = client(url, "ecs")
    benchlib.wait_for_instance(ecs, cluster)
    docker_rates, local_rates, berth_rates, lags = [], [], [], []
    for round_number in range(1, rounds + 1):
        family = f"bench-logs-{round_number}"
        # cpu 1024: the CPU weight `docker run` gives the baseline's container (Docker's default
        # 1024 shares); without it ECS gives the container 2 shares, and on a busy machine the
        # engine's own logging threads would take its turns.
        ecs.register_task_definition(family=family, containerDefinitions=[{
            "name": "printer", "image": IMAGE, "memory": 128, "cpu": 1024, "essential": True,
            "command": ["log", "--lines", str(lines)],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": GROUP, "awslogs-region": "us-east-1",
                "awslogs-stream-prefix": f"round{round_number}", "mode": "blocking"}}}])
        sides = ["docker", "berth", "docker-local"]
        shift = (round_number - 1) % len(sides)
        for side in sides[shift:] + sides[:shift]:
            if side == "docker":
                rate = docker_round(lines, "json-file")
                docker_rates.append(rate)
            elif side == "docker-local":
                rate = docker_round(lines, "local")
                local_rates.append(rate)
            else:
                rate, round_lags = berth_round(url, cluster, family, lines, round_number)
                berth_rates.append(rate)
                lags += round_lags
            print(f"round {round_number} {side}: {rate:.0f} lines/s", file=sys.stderr)
    berth_rate, docker_rate = statistics.median(berth_rates), statistics.median(docker_rates)
    local_rate = statistics.median(local_rates)
    lags.sort()
    p50, p99 = lags[len(lags) // 2], lags[min(len(lags) - 1, len(lags) * 99 // 100)]
    print(f"log_lines_per_sec: {berth_rate:.0f} (docker logs baseline: {docker_rate:.0f}, "
          f"ratio {berth_rate / docker_rate:.2f}); lag_p99_ms: {p99} (p50 {p50}; medians of {rounds} "
          f"rotating rounds of {lines} lines from one berth-demo container; docker with the local "
          f"driver, which Berth's awslogs containers log to: {local_rate:.0f} lines/s, ratio "
          f"{berth_rate / local_rate:.2f}; awslogs blocking mode, task cpu 1024 as docker run's "
          f"default weight, release server and agent on the local Docker Engine, loopback)")


if __name__ == "__main__":
    sys.exit(benchlib.run(lambda: main(sys.argv)))
