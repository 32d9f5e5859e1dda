"""The API fuzz driver (tests/e2e/api_fuzz.py) against a real `berth server`: every ECS action of
botocore's model with seeded random valid and invalid inputs. No call may answer 5xx, every error
must be an AWS JSON error with an ECS error code (SerializationException for malformed bodies and
wrong member types), and no failed call may change the store. bench/api_fuzz.sh runs the same
driver for 100,000 calls against a release build."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_fuzz  # noqa: E402


def test_random_valid_and_invalid_calls_never_fail_the_server_nor_change_state_when_refused(
        berth, berth_binary, capsys):
    status = api_fuzz.main([
        "--url", berth.url, "--berth", str(berth_binary), "--credentials", str(berth.data_dir / "credentials"),
        "--calls", "2000", "--seed", "16", "--quiet-calls", "400", "--check-every", "10"])
    out = capsys.readouterr()
    last = out.out.strip().splitlines()[-1]
    assert status == 0, out.err + last
    assert last.startswith("api_fuzz_calls: 2000 (5xx: 0, failed calls that changed state: 0, calls/s: "), last
