#!/usr/bin/env bash
# A real Git server on 127.0.0.1 for tests: lighttpd + git http-backend over HTTP and HTTPS (basic
# auth, a CA made for the run) and a private sshd (public keys). Used by the Rust integration
# tests and the end-to-end harness.
#
#   git-server.sh start <dir>        make keys/certs, start both servers, write <dir>/server.env
#   git-server.sh repo <dir> <name>  create an empty bare repository <name>.git (branch main)
#   git-server.sh stop <dir>         stop the servers by their recorded PIDs
#
# server.env holds ports, PIDs, the user, the token and the paths of the CA and client keys.
# GIT_SERVER_USER / GIT_SERVER_TOKEN fix the credentials (a Kestra secret must know them up front).
# Packages: git lighttpd lighttpd-mod-openssl openssh-server openssh-client openssl.
set -euo pipefail

cmd=${1:?usage: git-server.sh start|repo|stop <dir> [name]}
T=$(realpath -m "${2:?missing <dir>}")

pick_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 40000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

wait_port() { # port pid
  for _ in $(seq 1 250); do
    kill -0 "$2" 2>/dev/null || return 1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.02
  done
  return 1
}

make_keys() {
  mkdir -p "$T/tls" "$T/ssh" "$T/repos" "$T/www" "$T/tmp"
  chmod 700 "$T/ssh"
  ( cd "$T/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Test Root CA $$" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile server.ext -out server.pem 2>/dev/null )
  ( cd "$T/ssh"
    ssh-keygen -q -t ed25519 -N '' -f host_ed25519
    ssh-keygen -q -t ed25519 -N '' -f id_ed25519
    ssh-keygen -q -t ed25519 -N "$SSH_PASSPHRASE" -f id_ed25519_pass
    ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -f id_rsa_pem
    # the key plugin-git's docs tell users to make (`-t ecdsa -b 256 -m PEM`), with a passphrase
    ssh-keygen -q -t ecdsa -b 256 -m PEM -N "$SSH_PASSPHRASE" -f id_ecdsa_pem_pass
    cat id_ed25519.pub id_ed25519_pass.pub id_rsa_pem.pub id_ecdsa_pem_pass.pub > authorized_keys
    chmod 600 host_ed25519 id_* )
}

start() {
  rm -rf "$T"; mkdir -p "$T"
  GIT_USER=${GIT_SERVER_USER:-tester}
  GIT_TOKEN=${GIT_SERVER_TOKEN:-"tok-$(openssl rand -hex 12)"}
  SSH_PASSPHRASE="pass-$(openssl rand -hex 6)"
  make_keys
  printf '%s:%s\n' "$GIT_USER" "$(openssl passwd -apr1 "$GIT_TOKEN")" > "$T/htpasswd"
  local exec_path; exec_path=$(git --exec-path)

  for attempt in 1 2 3; do
    HTTP_PORT=$(pick_port); HTTPS_PORT=$(pick_port)
    cat > "$T/lighttpd.conf" <<CONF
server.modules = ("mod_access", "mod_alias", "mod_setenv", "mod_auth", "mod_authn_file", "mod_cgi", "mod_openssl", "mod_accesslog")
server.bind = "127.0.0.1"
server.port = $HTTP_PORT
server.document-root = "$T/www"
server.errorlog = "$T/lighttpd-error.log"
accesslog.filename = "$T/access.log"
server.upload-dirs = ("$T/tmp")
server.feature-flags = ("auth.delay-invalid-creds" => "disable")
\$SERVER["socket"] == "127.0.0.1:$HTTPS_PORT" {
  ssl.engine = "enable"
  ssl.pemfile = "$T/tls/server.pem"
  ssl.privkey = "$T/tls/server.key"
}
alias.url = ("/git/" => "$exec_path/git-http-backend/")
\$HTTP["url"] =~ "^/git/" {
  cgi.assign = ("" => "")
  setenv.set-environment = ("GIT_PROJECT_ROOT" => "$T/repos", "GIT_HTTP_EXPORT_ALL" => "1")
  auth.backend = "htpasswd"
  auth.backend.htpasswd.userfile = "$T/htpasswd"
  auth.require = ("" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))
}
CONF
    lighttpd -D -i 1800 -f "$T/lighttpd.conf" > "$T/lighttpd.out" 2>&1 &
    LIGHTTPD_PID=$!
    if wait_port "$HTTP_PORT" "$LIGHTTPD_PID" && wait_port "$HTTPS_PORT" "$LIGHTTPD_PID"; then break; fi
    kill "$LIGHTTPD_PID" 2>/dev/null || true
    [ "$attempt" = 3 ] && { cat "$T/lighttpd.out" "$T/lighttpd-error.log" >&2 2>/dev/null; exit 1; }
  done

  # sshd (as root) needs its privilege-separation directory; -p: parallel test servers race here.
  if [ "$(id -u)" = 0 ]; then mkdir -p -m 0755 /run/sshd; fi
  for attempt in 1 2 3; do
    SSH_PORT=$(pick_port)
    cat > "$T/ssh/sshd_config" <<CONF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $T/ssh/host_ed25519
PidFile $T/ssh/sshd.pid
AuthorizedKeysFile $T/ssh/authorized_keys
AllowUsers $(id -un)
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AcceptEnv GIT_PROTOCOL
PrintMotd no
X11Forwarding no
AllowTcpForwarding no
MaxStartups 50:30:100
LogLevel VERBOSE
CONF
    /usr/sbin/sshd -D -e -f "$T/ssh/sshd_config" > "$T/sshd.log" 2>&1 &
    SSHD_PID=$!
    if wait_port "$SSH_PORT" "$SSHD_PID"; then break; fi
    kill "$SSHD_PID" 2>/dev/null || true
    [ "$attempt" = 3 ] && { cat "$T/sshd.log" >&2; exit 1; }
  done

  local fp; fp=$(ssh-keygen -lf "$T/ssh/host_ed25519.pub" | awk '{print $2}')
  cat > "$T/server.env" <<ENV
GIT_SERVER_DIR=$T
HTTP_PORT=$HTTP_PORT
HTTPS_PORT=$HTTPS_PORT
SSH_PORT=$SSH_PORT
LIGHTTPD_PID=$LIGHTTPD_PID
SSHD_PID=$SSHD_PID
GIT_USER=$GIT_USER
GIT_TOKEN=$GIT_TOKEN
SSH_USER=$(id -un)
SSH_PASSPHRASE=$SSH_PASSPHRASE
SSH_HOST_FINGERPRINT=$fp
CA_PEM=$T/tls/ca.pem
REPOS=$T/repos
ACCESS_LOG=$T/access.log
KEY_ED25519=$T/ssh/id_ed25519
KEY_ED25519_PASS=$T/ssh/id_ed25519_pass
KEY_RSA_PEM=$T/ssh/id_rsa_pem
KEY_ECDSA_PEM_PASS=$T/ssh/id_ecdsa_pem_pass
ENV
  echo "git server up: http :$HTTP_PORT, https :$HTTPS_PORT, ssh :$SSH_PORT (dir $T)"
}

repo() {
  local name=${1:?missing repository name}
  git init -q --bare -b main "$T/repos/$name.git"
  git -C "$T/repos/$name.git" config http.receivepack true
}

stop() {
  [ -f "$T/server.env" ] || return 0
  # shellcheck disable=SC1091
  . "$T/server.env"
  for pid in "$LIGHTTPD_PID" "$SSHD_PID"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "$LIGHTTPD_PID" "$SSHD_PID"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

case "$cmd" in
  start) start ;;
  repo) repo "${3:?missing repository name}" ;;
  stop) stop ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
