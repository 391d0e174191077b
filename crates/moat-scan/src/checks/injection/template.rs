//! Server-side template injection (`injection.template`): template
//! expressions of the common engines multiplying two numbers come back
//! evaluated.

use super::point::Point;
use super::{Kind, Measure, report};
use crate::checks::{Context, Outcome};
use crate::finding::{Category, Rule, Severity};

pub static TEMPLATE: Rule = Rule {
    id: "injection.template",
    name: "Server-side template injection",
    category: Category::Api8,
    severity: Severity::High,
    cwe: Some(1336),
    description: "A template expression in a value is evaluated by the server: the value is part of a template, which in most engines reaches code execution.",
};

/// `7*191` in the syntax of Jinja/Twig/Handlebars, JSP EL/Freemarker,
/// ERB/EJS and Ruby/Thymeleaf; `1337` is the product.
const PAYLOADS: &[&str] = &["{{7*191}}", "${7*191}", "<%= 7*191 %>", "#{7*191}"];
const PRODUCT: &str = "1337";

pub async fn run(cx: &Context, point: &Point<'_>, control: &Measure, out: &mut Outcome) {
    if control.exchange.text().contains(PRODUCT) {
        return;
    }
    for payload in PAYLOADS {
        let value = format!("{}{payload}", point.control);
        let Some(answer) = point.send(cx, &value, None).await else {
            continue;
        };
        if answer.text().contains(PRODUCT) {
            out.found(report(
                &TEMPLATE,
                Kind::Template,
                point,
                format!("The {} is evaluated as a template", point.describe()),
                format!("`{value}` in the {} was answered {} with `{PRODUCT}` (7×191) in the body; the control was not.", point.describe(), answer.status),
                &answer,
                format!("`{PRODUCT}` in the answer"),
            ));
            return;
        }
    }
}
