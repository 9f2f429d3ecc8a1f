#!/bin/sh
# Creates the secrets docker-compose.yml reads, once, in ./secrets/ (next to
# docker-compose.yml): the gateway's API key, and the passwords of
# PostgreSQL, Redis and NATS. Random, never committed (.gitignore), never
# overwritten: delete a file to make a new one (and restart what uses it).
#
# The folder is 0700 (only you on this host); the files are 0644 because
# Compose (outside swarm) bind-mounts secret files with their host
# permissions, and the containers read them as their own non-root users.
set -eu
cd "$(dirname "$0")/../.."
umask 077
mkdir -p secrets
chmod 700 secrets
make() { # name, command printing the secret
  if [ -s "secrets/$1" ]; then echo "secrets/$1: kept"; return; fi
  sh -c "$2" > "secrets/$1.tmp"
  chmod 644 "secrets/$1.tmp"
  mv "secrets/$1.tmp" "secrets/$1"
  echo "secrets/$1: created"
}
# Hex: no character that a shell, a URL or a config file would read specially.
make api_key 'openssl rand -hex 32'
make db_password 'openssl rand -hex 24'
make redis_password 'openssl rand -hex 24'
make nats_password 'openssl rand -hex 24'
# The NATS servers take the same password from a config include (nats-server reads no secret files).
make nats_auth.conf "printf 'authorization {\n  user: starweather\n  password: \"%s\"\n}\n' \"\$(cat secrets/nats_password)\""
