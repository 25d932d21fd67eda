"""`make airflow`: `airflow standalone` with this provider, the sample DAG and the demo IAM.

Starts moto's IAM server (demo organisation) on 127.0.0.1, points ``aws_default`` at it, and runs
``airflow standalone`` (scheduler, api-server with the UI, dag-processor, triggerer) on a SQLite
home in ``.airflow/``. Prints the UI address and login; Ctrl-C stops everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # devtools/: the demo organisation and local plumbing
HOME = REPO / ".airflow"
PORT = int(os.environ.get("AIRFLOW_PORT", "8080"))


def main() -> None:
    from devtools.demo_org import USERS, seed_demo_organisation
    from devtools.local import aws_connection_json, iam_client, local_airflow_env, start_iam_server

    HOME.mkdir(exist_ok=True)
    os.environ.update(
        **local_airflow_env(HOME, REPO / "dags"),
        AIRFLOW__API__PORT=str(PORT),
        # Workers reach the api-server's execution API; it follows the port.
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://localhost:{PORT}/execution/",
        # standalone starts its components as `airflow …` commands: this venv's first.
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )

    server, endpoint = start_iam_server()
    seed_demo_organisation(iam_client(endpoint))
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection_json(endpoint)
    print(f"Demo IAM (moto) at {endpoint} with {len(USERS)} users; Airflow home {HOME}")
    log = HOME / "standalone.log"
    with open(log, "w") as out:
        airflow = subprocess.Popen(
            [sys.executable, "-m", "airflow", "standalone"], stdout=out, stderr=subprocess.STDOUT
        )
    passwords = HOME / "simple_auth_manager_passwords.json.generated"
    try:
        deadline = time.monotonic() + 180
        while not passwords.exists() and airflow.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
        if passwords.exists():
            ((user, password),) = json.loads(passwords.read_text()).items()
            print(f"\nAirflow UI: http://localhost:{PORT}  login: {user} / {password}")
        print(f"Unpause and trigger 'aws_iam_users_ocsf' in the UI. Log: {log}. Ctrl-C stops.")
        airflow.wait()
    except KeyboardInterrupt:
        pass
    finally:
        airflow.terminate()
        try:
            airflow.wait(timeout=30)
        except subprocess.TimeoutExpired:
            airflow.kill()
        server.stop()


if __name__ == "__main__":
    main()
