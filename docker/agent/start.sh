#!/bin/bash
# Start the agent as open-autonomy's image does: take the key the deployment mounts at /agent_key, run the agent.
set -euo pipefail
cd /home/agent
cp /agent_key/ethereum_private_key.txt .
aea add-key ethereum ethereum_private_key.txt
exec aea run
