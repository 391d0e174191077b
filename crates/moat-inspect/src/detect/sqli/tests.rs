use super::*;
use crate::engine::Hints;
use crate::normalize::normalize;

fn run(v: &str, kind: ValueKind, hints: &Hints) -> Option<Hit> {
    let n = normalize(v);
    SqlInjection.detect(
        &n,
        &Context {
            kind,
            hints,
            paranoia: 1,
        },
    )
}

fn blocks(v: &str) -> bool {
    [ValueKind::Query, ValueKind::JsonString].iter().any(|&k| {
        run(v, k, &Hints::default())
            .is_some_and(|h| h.paranoia == 1 && h.severity == Severity::Critical)
    })
}

fn pl1_score(v: &str, kind: ValueKind) -> u32 {
    run(v, kind, &Hints::default())
        .filter(|h| h.paranoia == 1)
        .map_or(0, |h| h.severity.score())
}

#[test]
fn injections_block_at_pl1() {
    let attacks = [
        "1' OR '1'='1",
        "' or '1'='1' --",
        "' OR 1=1--",
        "' or 1=1#",
        "' or 1=1/*",
        "admin'--",
        "admin' #",
        "admin')--",
        "admin'/*",
        "' or ''='",
        "'='",
        "x' or 'x'='x",
        "\" or \"\"=\"",
        "\" or 1=1--",
        "1 or 1=1",
        "1 and 1=2",
        "-1 OR 2>1",
        "1) or (1=1",
        "1' and 1=1 and '1'='1",
        "' or 1 or '",
        "' or true--",
        "1 union select 1,2,3",
        "1 UNION ALL SELECT NULL,NULL,NULL--",
        "-1' union select username, password from users--",
        "' UNION SELECT table_name FROM information_schema.tables--",
        "') union select version()#",
        "1 union(select 1,2)",
        "1/**/UNION/**/SELECT/**/password/**/FROM/**/users",
        "1 /*!50000UNION*/ /*!50000SELECT*/ 1,2",
        "1%20union%20select%201,2",
        "1%2520union%2520select%2520null--",
        "1 ＵＮＩＯＮ ＳＥＬＥＣＴ 1,2",
        "1; DROP TABLE users--",
        "'; drop table users; --",
        "1; delete from users",
        "'; insert into users values ('a','b')--",
        "'; update users set password='x' where 1=1--",
        "'; exec xp_cmdshell 'dir'--",
        "1; exec master..xp_cmdshell 'ping 10.0.0.1'",
        "'; shutdown--",
        "'; WAITFOR DELAY '0:0:5'--",
        "1; waitfor delay '00:00:10'",
        "'; declare @q varchar(99); set @q='x'--",
        "1' AND SLEEP(5)--",
        "1 and sleep(5)",
        "' or sleep(5)#",
        "1) and sleep(5)--",
        "' || pg_sleep(10)--",
        "1 AND BENCHMARK(5000000,MD5(1))",
        "sleep(5)",
        "(select(0)from(select(sleep(5)))v)/*'+(select(0)from(select(sleep(5)))v)+'\"+(select(0)from(select(sleep(5)))v)+\"*/",
        "1 AND extractvalue(1,concat(0x7e,(select version())))",
        "' and updatexml(1,concat(0x7e,user()),1)--",
        "' and exp(~(select * from (select user())x))--",
        "1' AND (SELECT 1 FROM (SELECT COUNT(*),CONCAT(version(),FLOOR(RAND(0)*2))x FROM information_schema.tables GROUP BY x)a)--",
        "' and ascii(substring((select password from users limit 1),1,1))>64--",
        "1 and ascii(substring(user(),1,1))>64",
        "' and exists(select * from users)--",
        "' union select 1 into outfile '/var/www/x.php'--",
        "' into outfile '/tmp/x'--",
        "' order by 3--",
        "1 order by 10--",
        "1' group by 1,2,3#",
        "' having 1=1--",
        "1 procedure analyse(extractvalue(1,version()),1)",
        "'+(select top 1 name from sysobjects)+'",
        "'||(select user from dual)||'",
        "'-sleep(5)-'",
        "1 or sleep(5)",
        "'XOR(if(now()=sysdate(),sleep(5),0))XOR'",
        "1' and 1=convert(int,@@version)--",
        "' or username like '%admin%' --",
        "' and 1 in (select 1)--",
        "%27%20or%201%3D1--",
        "&#39; or 1=1--",
        "\\u0027 or 1=1--",
        "' or 'a'='a",
        "1' or 1=1 limit 1 -- -",
        "' or 1=1 -- -",
        "1 or 1=1 -- ",
        "') or ('a'='a",
        "\") or (\"a\"=\"a",
        "1 rlike sleep(5)",
        "'; exec('sel'+'ect 1')--",
        "' AND 1=(SELECT COUNT(*) FROM tablenames); --",
        "1' and '1'='1",
        "1 AND (SELECT * FROM (SELECT(SLEEP(5)))bAKL)",
        "' or ascii(substr(user,1,1))=114--",
        "1 or 'a'='a'",
        "' and '1'='2",
        "1';select pg_sleep(5)--",
        "(1)or(1)=(1)",
        "1 #foo\nUNION SELECT 1,2",
        "1--%0aunion%0aselect%0apassword%0afrom%0ausers",
        "admin'--\n",
        "1 OR 3 BETWEEN 1 AND 5",
        "' OR EXISTS(SELECT * FROM users)--",
        "' || (SELECT banner FROM v$version) || '",
        "' AND SUBSTRING(@@version,1,1)='5",
        "1' and (select 1 from dual where 1=1)='1",
        "%00' or 1=1--",
        "1 union select 0x61646d696e",
        "1' GROUP BY columnnames HAVING 1=1--",
        "1' AND 1=0 UNION SELECT NULL, table_name FROM all_tables--",
        "id=1 OR 1=1",
        "1'+AND+'1'='1",
        "price DESC; DROP TABLE products--",
        "asc, (SELECT CASE WHEN (1=1) THEN 1 ELSE 1/0 END)",
        "'; COPY (SELECT '') TO PROGRAM 'id'--",
        "1' WAITFOR DELAY '0:0:5'--",
        "IF(1=1,SLEEP(5),0)",
        "';--",
        "'));--",
        "1 or true",
        "1 AND JSON_KEYS((SELECT CONVERT((SELECT CONCAT(0x7e,version())) USING utf8)))",
        "https://shop.example.com/search?q=1%20AND%205%3D5%20UNION%20SELECT%20CHAR%2897%29",
        "/search?page=2&q=%27%3B%20DROP%20TABLE%20users--",
    ];
    let mut missed = Vec::new();
    for a in attacks {
        if !blocks(a) {
            missed.push(a);
        }
    }
    assert!(missed.is_empty(), "missed: {missed:#?}");
}

#[test]
fn ordinary_text_does_not_block() {
    let benign = [
        "O'Brien",
        "D'Angelo",
        "O'Brien and D'Angelo",
        "Mary O'Neil-Smith",
        "Jones' and Smith's",
        "the students' and teachers' ratings",
        "James' or 'Jim'",
        "l'or est jaune et l'union fait la force",
        "qu'il n'est pas là, c'est dommage",
        "aujourd'hui j'ai mangé l'omelette d'Anne",
        "Seán Ó Súilleabháin's pub",
        "please select the best option and update me",
        "Select the best option from the list",
        "Please select one; update me if it changes",
        "1 or 2 items",
        "2 or more",
        "1 and 2 and 3",
        "3-2=1",
        "x = y + 1",
        "I'm not sure; select whichever you like",
        "Don't use 1=1 or 'x'='x' in queries",
        "the 'or' and 'and' operators",
        "He said 'or else'",
        "rock 'n' roll",
        "It's 5' or 6' tall",
        "5'10\" or 6'",
        "'Tis the season",
        "#1 fan",
        "issue #42 -- fixed",
        "'#general'",
        "\"#general\"",
        "\"--help\"",
        "great product -- would buy again",
        "5 -- best",
        "o'brien@example.com",
        "https://example.com/search?q=it's&x=1#frag",
        "https://example.com/a/b?c=d&e=f",
        "YWRtaW46cGFzc3dvcmQ=",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc-_def",
        "{\"a\":\"b\",\"c\":1,\"d\":[1,2]}",
        "{'a': 'b', 'c': \"it's\"}",
        "if (a == 'x' || b == 'y') { return; }",
        "time.sleep(5)",
        "Thread.sleep(1000);",
        "await sleep(500)",
        "I need sleep (8 hours at least)",
        "**Note**: don't use `SELECT *` in prod; instead select the columns",
        "- item one\n- item two\n\n> quoted -- text",
        "Workers' union selected a rep",
        "the trade union select committee",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)",
        "Apt. 4B, 12 O'Connell St.",
        "Order by Friday, please",
        "group by group, please",
        "We'll drop the table tomorrow",
        "Hi; drop me a line",
        "Error; update the record set to 0",
        "Ben & Jerry's",
        "AT&T",
        "Rock & Roll || Jazz",
        "c'est l'été, n'est-ce pas ?",
        "Dell'Orto, Sant'Anna e Nell'Ambito",
        "it's true -- it's 'really' true",
        "O'Reilly & Associates",
        "1,000 or 2,000",
        "5' = 152 cm",
        "f'(x) = 2x",
        "what's 2+2=4?",
        "Note: don't forget the 'select' keyword",
        "name: 'Bob', age: 30",
        "\"yes\" or \"no\"",
        "'hello' and 'bye'",
        "Terms & Conditions apply; see (1) and (2)",
        "SELECT name FROM users WHERE id = 1",
        "To do: drop table tennis classes; union meeting at 5",
        "She said \"ok\" -- then left",
        "ORDER BY name ASC",
        "100% sure it's fine -- really",
        "a'b'c'd'e",
        "''''''",
        "\"\"\"\"",
        "--",
        "#",
        "''",
        "the kids' order by 5",
        "Day 1, sleep(8 hours)",
        "1, sleep (8 hours) then breakfast",
        "https://example.com/search?q=o'brien&sort=price%20desc",
        "/products?order=desc&page=1",
        "price desc, name asc",
        "if (ready) sleep(5);",
        "lang=en and theme=dark",
        "q=rock & roll",
        "title:\"foo\" OR author:\"bar\"",
        "O'Reilly AND python",
    ];
    let mut flagged = Vec::new();
    for b in benign {
        for k in [
            ValueKind::Query,
            ValueKind::JsonString,
            ValueKind::FormField,
        ] {
            if pl1_score(b, k) >= 5 {
                flagged.push((b, k, run(b, k, &Hints::default())));
            }
        }
    }
    assert!(flagged.is_empty(), "flagged: {flagged:#?}");
}

#[test]
fn contexts_that_cannot_hold_prose_are_stricter() {
    let h = Hints::default();
    // A bare identifier breakout outside prose.
    assert!(run("x' and a=b--", ValueKind::Header, &h).is_some_and(|h| h.paranoia == 1));
    // A full statement: warning at PL2 in a path, notice at PL3 in prose.
    let p = run("select * from users", ValueKind::Path, &h).unwrap();
    assert_eq!((p.severity, p.paranoia), (Severity::Warning, 2));
    let j = run("select * from users", ValueKind::JsonString, &h).unwrap();
    assert_eq!((j.severity, j.paranoia), (Severity::Notice, 3));
    // A small maxLength means no prose.
    let short = Hints {
        max_length: Some(20),
        ..Hints::default()
    };
    assert_eq!(
        run("select * from users", ValueKind::JsonString, &short).map(|h| h.paranoia),
        Some(2)
    );
}

#[test]
fn weak_signals_count_only_at_higher_paranoia() {
    let h = Hints::default();
    let w = run("x' or 'y", ValueKind::Query, &h).unwrap();
    assert!(w.paranoia >= 3);
    let o = run("1 order by 2", ValueKind::Query, &h).unwrap();
    assert!(o.paranoia >= 2);
}

#[test]
fn long_and_hostile_values_are_fast() {
    let long = "O'Brien and D'Angelo said: select the best. ".repeat(2000);
    let t = std::time::Instant::now();
    assert!(!blocks(&long));
    let quotes = "'".repeat(60_000);
    assert!(!blocks(&quotes));
    let parens = "(".repeat(60_000);
    assert!(!blocks(&parens));
    let padded = format!("{}1 union select 1", "(".repeat(10_000));
    let _ = blocks(&padded);
    assert!(t.elapsed().as_millis() < 1000);
}
