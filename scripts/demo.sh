#!/usr/bin/env bash
# Starts `berth up` on a scratch data directory and drives it with the real aws-cli: the
# quickest way to see Berth answer the ECS API. Stops Berth and removes its state on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet -p berth
berth=${CARGO_TARGET_DIR:-target}/release/berth
"$berth" demo image
data_dir=$(mktemp -d)
port=${BERTH_DEMO_PORT:-9600}
"$berth" up --listen "127.0.0.1:$port" --data-dir "$data_dir" >"$data_dir/stdout" 2>"$data_dir/log" &
berth_pid=$!
cleanup() {
  kill $berth_pid 2>/dev/null; wait $berth_pid 2>/dev/null
  # berth up keeps a stopped task's containers for a while; the demo leaves nothing behind.
  docker ps -aq --filter label=com.amazonaws.ecs.cluster=default | xargs -r docker rm -f >/dev/null
  rm -rf "$data_dir"
}
trap cleanup EXIT

for _ in $(seq 100); do
  grep -q '^berth ready: ' "$data_dir/stdout" 2>/dev/null && break
  kill -0 $berth_pid 2>/dev/null || { cat "$data_dir/log"; exit 1; }
  sleep 0.1
done
cat "$data_dir/stdout"

# aws-cli needs credentials to sign with; berth up wrote the account's root credentials here.
export AWS_SHARED_CREDENTIALS_FILE="$data_dir/credentials" AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
ecs() { echo "+ aws ecs $*" >&2; aws --endpoint-url "http://127.0.0.1:$port" ecs "$@"; }
aws_() { echo "+ aws $*" >&2; aws --endpoint-url "http://127.0.0.1:$port" "$@"; }

# Every request is SigV4-verified; STS says who we are, EC2 shows the default network.
aws_ sts get-caller-identity --query Arn --output text
aws_ ec2 describe-subnets --filters Name=default-for-az,Values=true \
  --query 'Subnets[].[AvailabilityZone,CidrBlock]' --output text
echo "+ each region is its own namespace:" >&2
aws_ ecs create-cluster --cluster-name web --region eu-west-1 --query cluster.clusterArn --output text
aws_ ecs delete-cluster --cluster web --region eu-west-1 --query cluster.status --output text

ecs list-clusters
ecs create-cluster --cluster-name demo --tags key=team,value=platform --query 'cluster.[clusterArn,status]' --output text
ecs register-task-definition --family web \
  --container-definitions '[{"name":"web","image":"berth-demo:latest","memory":128,"portMappings":[{"containerPort":8080}],
    "healthCheck":{"command":["CMD","/berth-demo","check","http://127.0.0.1:8080/health"]}}]' \
  --query 'taskDefinition.[taskDefinitionArn,status,join(`,`, compatibilities)]' --output text
ecs register-task-definition --family web --cpu 256 --memory 512 --network-mode awsvpc --requires-compatibilities FARGATE \
  --container-definitions '[{"name":"web","image":"berth-demo:latest"}]' \
  --query 'taskDefinition.[taskDefinitionArn,cpu,memory]' --output text
ecs describe-task-definition --task-definition web:1 --query 'taskDefinition.containerDefinitions[0].healthCheck'
ecs list-task-definitions --family-prefix web --sort DESC
ecs describe-clusters --clusters demo default --include TAGS --query 'clusters[].[clusterName,status,tags[0].value]' --output text
echo "+ run the demo workload as a task on berth up's local agent:" >&2
task=$(ecs run-task --task-definition web:1 --query 'tasks[0].taskArn' --output text)
ecs wait tasks-running --tasks "$task"
host_port=$(ecs describe-tasks --tasks "$task" --query 'tasks[0].containers[0].networkBindings[0].hostPort' --output text)
echo "+ curl http://127.0.0.1:$host_port/" >&2
curl -s "http://127.0.0.1:$host_port/"
ecs describe-tasks --tasks "$task" --query 'tasks[0].[lastStatus,healthStatus,containers[0].runtimeId]' --output text
ecs stop-task --task "$task" --query 'task.desiredStatus' --output text
ecs wait tasks-stopped --tasks "$task"
ecs describe-tasks --tasks "$task" --query 'tasks[0].[lastStatus,stopCode,containers[0].exitCode]' --output text
echo "+ a service keeps two copies running, then goes away:" >&2
ecs create-service --service-name web --task-definition web:1 --desired-count 2 \
  --query 'service.[serviceName,status,deployments[0].id]' --output text
ecs wait services-stable --services web
ecs describe-services --services web --query 'services[0].[runningCount,desiredCount,events[0].message]' --output text
ecs delete-service --service web --force --query 'service.status' --output text
echo "+ a request ECS would refuse:" >&2
ecs register-task-definition --family web --requires-compatibilities FARGATE --network-mode awsvpc --cpu 256 --memory 4096 \
  --container-definitions '[{"name":"web","image":"berth-demo:latest"}]' || true
