# bash completion for capsa(8), an OCI container runtime                 -*- shell-script -*-
#
# meson installs this file as `capsa` in bash-completion's completions directory, where
# bash-completion loads it the first time capsa is completed; without bash-completion,
# `source /usr/share/bash-completion/completions/capsa` (or completion/capsa.bash of a clone)
# from ~/.bashrc.  It needs bash 4 and nothing else.
#
# What it completes: the global options, the commands (and the subcommands of image, net and
# tenant), each command's flags, the values of flags (directories, files, formats, signals,
# modes) and the names capsa knows, asked from capsa itself: container ids (`capsa list -q`),
# images (`capsa image list`), networks (`capsa net list`) and tenants (`capsa tenant list`),
# from the state root and image store given on the line (--root, --image-root), if any.
#
# The flag lists below are checked against the code by tests/integration/test_completion.py:
# a flag a command accepts that is missing here, or one listed here that the command refuses,
# fails the test.

# The flags of CTX ("" for the global options, "create", "image pull", ...): sets argflags
# (the flags that take a value) and flags (all of them).  Returns 1 for an unknown command.
_capsa_flags()
{
        local create='-b --bundle --pid-file --console-socket --preserve-fds --tenant --net
                -p --publish --image -e --env -w --workdir -u --user -m --memory --cpus
                --pids-limit -v --volume --vm-accel'
        local create_bool='--no-pivot --no-new-keyring --vm --read-only -t --tty'
        local criu='--image-path --work-path --manage-cgroups-mode --empty-ns'
        local criu_bool='--tcp-established --ext-unix-sk --shell-job --file-locks --lazy-pages
                --auto-dedup'
        argflags='' flags=''
        case $1 in
        '')
                argflags='--root --log --log-format --rootless --criu --image-root'
                flags='--debug --systemd-cgroup -v --version'
                ;;
        create) argflags=$create flags=$create_bool ;;
        run) argflags=$create flags="$create_bool -d --detach --no-subreaper --keep" ;;
        start | state | pause | resume | features | cni) ;;
        image | net | tenant) ;;
        'image inspect' | 'image tag' | 'net inspect' | 'net rm') ;;
        kill) flags='-a --all' ;;
        delete | 'image rm') flags='-f --force' ;;
        list | 'image list') argflags='-f --format' flags='-q --quiet' ;;
        ps | 'net list' | 'tenant list') argflags='-f --format' ;;
        spec) argflags='-b --bundle --image' flags='--rootless' ;;
        exec)
                argflags='-p --process --cwd -e --env -u --user -g --additional-gids -c --cap
                        --apparmor --process-label --pid-file --console-socket --preserve-fds
                        --cgroup'
                flags='-t --tty --no-new-privs -d --detach --ignore-paused'
                ;;
        update)
                argflags='-r --resources --memory --memory-reservation --memory-swap
                        --cpu-shares --cpu-quota --cpu-period --cpu-rt-runtime --cpu-rt-period
                        --cpuset-cpus --cpuset-mems --pids-limit --blkio-weight'
                ;;
        events) argflags='--interval' flags='--stats' ;;
        checkpoint)
                argflags="$criu --parent-path --status-fd --page-server"
                flags="$criu_bool --leave-running --pre-dump"
                ;;
        restore)
                argflags="$criu -b --bundle --pid-file --console-socket --lsm-profile
                        --lsm-mount-context"
                flags="$criu_bool -d --detach --no-subreaper --no-pivot"
                ;;
        migrate)
                argflags='--tls-cacert --tls-cert --tls-key --max-rounds --max-downtime'
                flags='--no-precopy --lazy --tcp-established --stats'
                ;;
        migrate-receive)
                argflags='--listen --tls-cacert --tls-cert --tls-key --work-dir'
                flags='--once'
                ;;
        'net create') argflags='--subnet --gateway --ipv6 --mtu --bridge' flags='--internal' ;;
        'image import') flags='-q --quiet' ;;
        'image pull') argflags='--ca-file --creds' flags='-q --quiet --tls-verify' ;;
        'image prune') flags='-a --all' ;;
        'tenant remove') return 0 ;; # takes no flag, not even --help
        *) return 1 ;;
        esac
        flags="$argflags $flags -h --help"
}

_capsa_subcommands()
{
        case $1 in
        image) _capsa_words_of 'import pull list inspect tag rm prune' ;;
        net) _capsa_words_of 'create list inspect rm' ;;
        tenant) _capsa_words_of 'list remove' ;;
        esac
}

# words, cword and cur from COMP_WORDS and COMP_CWORD, with the pieces bash splits at = and :
# (COMP_WORDBREAKS) joined again where they touch in COMP_LINE: --root=/tmp and alpine:3.19
# are one word each here.
_capsa_words()
{
        local i w j=-1 pos=0 start end=-1 rest before
        words=() cword=0
        for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
                w=${COMP_WORDS[i]}
                start=-2 # an empty word (the cursor after a space) never touches the one before
                if [[ -n $w && -n ${COMP_LINE-} ]]; then
                        rest=${COMP_LINE:pos}
                        before=${rest%%"$w"*}
                        start=$((pos + ${#before}))
                        pos=$((start + ${#w}))
                fi
                if ((j >= 0 && start == end)) && [[ $w == [=:]* || ${words[j]} == *[=:] ]]; then
                        words[j]+=$w
                else
                        words[++j]=$w
                fi
                end=$pos
                ((i == COMP_CWORD)) && cword=$j
        done
        cur=${words[cword]}
}

# COMPREPLY from the lines the command "$@" prints that start with $cur, minus the part of
# $cur up to its last = or : that bash treats as a word break (bash replaces only the text
# after it).
_capsa_reply()
{
        local word=$cur brk='' cut='' line out
        [[ $COMP_WORDBREAKS == *=* ]] && brk+='='
        [[ $COMP_WORDBREAKS == *:* ]] && brk+=':'
        [[ -n $brk && $word == *[$brk]* ]] && cut=${word%"${word##*[$brk]}"}
        out=$("$@") # (not `< <(...)`: that needs /dev/fd, which a minimal /dev lacks)
        while IFS= read -r line; do
                [[ -n $line && $line == "$word"* ]] && COMPREPLY+=("${line#"$cut"}")
        done <<<"$out"
}

# the words of $1, one a line
_capsa_words_of()
{
        local IFS=$' \t\n'
        printf '%s\n' $1
}

# capsa itself, with the state root and image store of the line
_capsa_call()
{
        local -a g=()
        [[ -n $root ]] && g+=(--root "$root")
        [[ -n $image_root ]] && g+=(--image-root "$image_root")
        "$capsa" "${g[@]}" "$@" 2>/dev/null </dev/null
}

# the first column of a table capsa prints, without its header
_capsa_column()
{
        local first _ IFS=$' \t\n'
        _capsa_call "$@" | {
                read -r _
                while read -r first _; do
                        [[ $first == '<none>' ]] || printf '%s\n' "$first"
                done
        }
}

# the networks, and `default` (made on first use)
_capsa_networks()
{
        { echo default && _capsa_column net list; } | sort -u
}

_capsa_signals()
{
        local s
        for s in HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT \
                CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS \
                RTMIN RTMAX; do
                printf '%s\nSIG%s\n' "$s" "$s"
        done
}

# COMPREPLY for the value $cur of flag $1 of context $ctx
_capsa_value()
{
        case $ctx:$1 in
        :--root | :--image-root | *:-b | *:--bundle | *:--image-path | *:--work-path | \
                *:--parent-path | *:--work-dir)
                compopt -o filenames 2>/dev/null
                local IFS=$'\n'
                COMPREPLY=($(compgen -d -- "$cur"))
                ;;
        :--log | :--criu | *:--pid-file | *:--console-socket | exec:-p | exec:--process | \
                update:-r | update:--resources | *:--ca-file | *:--tls-cacert | *:--tls-cert | \
                *:--tls-key)
                compopt -o filenames 2>/dev/null
                local IFS=$'\n'
                COMPREPLY=($(compgen -f -- "$cur"))
                ;;
        create:-v | create:--volume | run:-v | run:--volume)
                # HOST:CTR[:ro|rw]: the host path
                if [[ $cur != *:* ]]; then
                        compopt -o filenames 2>/dev/null
                        local IFS=$'\n'
                        COMPREPLY=($(compgen -f -- "$cur"))
                fi
                ;;
        :--log-format) _capsa_reply _capsa_words_of 'text json' ;;
        :--rootless) _capsa_reply _capsa_words_of 'true false auto' ;;
        create:--vm-accel | run:--vm-accel) _capsa_reply _capsa_words_of 'kvm tcg auto' ;;
        *:-f | *:--format) _capsa_reply _capsa_words_of 'table json' ;;
        *:--manage-cgroups-mode) _capsa_reply _capsa_words_of 'soft full strict ignore' ;;
        *:--empty-ns) _capsa_reply _capsa_words_of network ;;
        exec:--tty | exec:--no-new-privs | 'image pull:--tls-verify')
                _capsa_reply _capsa_words_of 'true false'
                ;;
        *:--image) _capsa_reply _capsa_column image list ;;
        *:--net) _capsa_reply _capsa_networks ;;
        *:--tenant) _capsa_reply _capsa_column tenant list ;;
        esac
}

# COMPREPLY for positional argument number $npos (0: the first) of context $ctx
_capsa_positional()
{
        case $ctx:$npos in
        :0 | help:0) _capsa_reply _capsa_commands ;;
        image:0 | net:0 | tenant:0) _capsa_reply _capsa_subcommands "$ctx" ;;
        start:0 | state:0 | kill:0 | delete:0 | exec:0 | ps:0 | update:0 | events:0 | \
                pause:0 | resume:0 | checkpoint:0 | migrate:0)
                _capsa_reply _capsa_call list -q
                ;;
        kill:1) _capsa_reply _capsa_signals ;;
        'image inspect:'* | 'image rm:'* | 'image tag:0')
                _capsa_reply _capsa_column image list
                ;;
        'image import:0')
                # SOURCE: oci:DIR[:REF], oci-archive:FILE[:REF] or docker-archive:FILE[:REF]
                if [[ $cur != *:* ]]; then
                        _capsa_reply _capsa_words_of 'oci: oci-archive: docker-archive:'
                        compopt -o nospace 2>/dev/null
                elif [[ $cur == oci:* || $cur == oci-archive:* || $cur == docker-archive:* ]]; then
                        local kind=${cur%%:*} path=${cur#*:} IFS=$'\n'
                        compopt -o filenames 2>/dev/null
                        if [[ $kind == oci ]]; then
                                COMPREPLY=($(compgen -d -- "$path"))
                        else
                                COMPREPLY=($(compgen -f -- "$path"))
                        fi
                        [[ $COMP_WORDBREAKS == *:* ]] || COMPREPLY=("${COMPREPLY[@]/#/$kind:}")
                fi
                ;;
        'net inspect:'*) _capsa_reply _capsa_networks ;;
        'net rm:'*) _capsa_reply _capsa_column net list ;;
        'tenant remove:0') _capsa_reply _capsa_column tenant list ;;
        esac
}

_capsa_commands()
{
        _capsa_words_of 'create start run state kill delete list spec features exec ps update
                events pause resume tenant net checkpoint restore migrate migrate-receive image cni
                help'
}

_capsa()
{
        local words cword cur
        _capsa_words
        COMPREPLY=()
        local capsa=${words[0]} root='' image_root='' ctx='' cmd='' npos=0 ddash='' flag=''
        local argflags flags i w name value
        [[ $capsa == \~/* ]] && capsa=$HOME/${capsa#\~/}
        _capsa_flags ''
        for ((i = 1; i < cword; i++)); do
                w=${words[i]}
                # a positional argument: the command, its subcommand, or an argument (exec
                # and ps stop parsing flags at their first: the rest is the process's or ps's)
                if [[ -n $ddash || $w != -?* ]] ||
                        { [[ $ctx == exec || $ctx == ps ]] && ((npos > 0)); }; then
                        if [[ -z $cmd && -z $ddash ]]; then
                                cmd=$w ctx=$w
                                [[ $cmd == help ]] && continue
                                _capsa_flags "$ctx" || return 0
                        elif [[ -z $ddash && ($ctx == image || $ctx == net || $ctx == tenant) ]]
                        then
                                case $w in
                                ls) w=list ;;
                                remove) [[ $ctx == tenant ]] || w=rm ;;
                                esac
                                ctx="$ctx $w"
                                _capsa_flags "$ctx" || return 0
                        else
                                ((npos++))
                        fi
                        continue
                fi
                if [[ $w == -- ]]; then
                        ddash=1
                        continue
                fi
                # a flag; its value is in this word (--flag=VALUE, -bVALUE) or the next one
                name=$w value=''
                if [[ $w == --*=* ]]; then
                        name=${w%%=*} value=${w#*=}
                elif [[ $w == -[!-]?* && " "$argflags" " == *[[:space:]]"${w:0:2}"[[:space:]]* ]]
                then
                        name=${w:0:2} value=${w:2}
                elif [[ " "$argflags" " == *[[:space:]]"$w"[[:space:]]* ]]; then
                        if ((i + 1 == cword)); then
                                flag=$w
                                break
                        fi
                        value=${words[++i]}
                fi
                if [[ -z $cmd ]]; then
                        [[ $value == \~/* ]] && value=$HOME/${value#\~/}
                        case $name in
                        --root) root=$value ;;
                        --image-root) image_root=$value ;;
                        esac
                fi
        done

        if [[ -n $flag ]]; then
                _capsa_value "$flag"
        elif [[ -z $ddash && $cur == --*=* ]]; then
                # --flag=VALUE: bash replaces the text after the = (when = breaks words)
                local flagname=${cur%%=*}
                cur=${cur#*=}
                _capsa_value "$flagname"
                [[ $COMP_WORDBREAKS == *=* ]] || COMPREPLY=("${COMPREPLY[@]/#/$flagname=}")
        elif [[ -z $ddash && $cur == -* ]] &&
                ! [[ ($ctx == exec || $ctx == ps) && $npos -gt 0 ]]; then
                _capsa_reply _capsa_words_of "$flags"
        elif [[ -z $ddash ]]; then
                _capsa_positional
        fi
        return 0
}

complete -F _capsa capsa
