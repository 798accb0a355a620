//! Property tests for the OVSDB framer: it never panics on any input, and
//! it frames a stream identically however the stream is split into reads.

use podflow_proto::ovsdb::Framer;
use proptest::prelude::*;
use serde_json::{json, Value};

/// Feeds `input` in chunks cut at `cuts`; returns frames and the error, if any.
fn run(input: &[u8], cuts: &[usize], max: usize) -> (Vec<Vec<u8>>, Option<String>) {
    let mut f = Framer::new(max);
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(0);
    points.push(input.len());
    points.sort_unstable();
    points.dedup();
    let mut frames = vec![];
    for w in points.windows(2) {
        f.push(&input[w[0]..w[1]]);
        loop {
            match f.next_frame() {
                Ok(Some(m)) => frames.push(m),
                Ok(None) => break,
                Err(e) => return (frames, Some(e.to_string())),
            }
        }
    }
    (frames, None)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        "[a-z{}\\[\\]\"\\\\ üé€😀\n\t]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\"{}\\\\]{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_and_split_invariant_on_arbitrary_bytes(
        input in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        max in 1usize..600,
    ) {
        let whole = run(&input, &[], max);
        let split = run(&input, &cuts, max);
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn frames_json_messages_identically_however_split(
        values in prop::collection::vec(json_value().prop_filter("object or array", |v| v.is_object() || v.is_array()), 1..5),
        cuts in prop::collection::vec(any::<usize>(), 0..24),
        ws in "[ \n\r\t]{0,3}",
    ) {
        let texts: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let mut input = Vec::new();
        for t in &texts {
            input.extend_from_slice(ws.as_bytes());
            input.extend_from_slice(t.as_bytes());
        }
        let (frames, err) = run(&input, &cuts, 1 << 20);
        prop_assert_eq!(err, None);
        let got: Vec<Value> = frames.iter().map(|f| serde_json::from_slice(f).unwrap()).collect();
        prop_assert_eq!(got, values);
    }
}
