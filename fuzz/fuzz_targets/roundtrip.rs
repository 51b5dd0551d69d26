//! Decoding then encoding must give back the exact input bytes: the ISA
//! crate promises a lossless mapping for every encoding it accepts.

#![no_main]

use apiary_isa::{
    Insn, decode_program, decode_slots, encode_program, slots_from_bytes, slots_to_bytes,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(slots) = slots_from_bytes(data) else {
        assert_ne!(data.len() % 8, 0, "only a partial slot may be refused");
        return;
    };
    assert_eq!(slots_to_bytes(&slots), data, "slot split is not lossless");
    let Ok(decoded) = decode_slots(&slots) else {
        assert!(
            decode_program(&slots).is_err(),
            "decode_program accepted what decode_slots refused"
        );
        return;
    };
    for &(index, insn) in &decoded {
        let encoded = insn.encode();
        assert_eq!(encoded.len(), insn.slots());
        let original = slots.get(index..index + insn.slots());
        assert_eq!(Some(encoded.as_slice()), original, "slot {index}: {insn:?}");
        assert_eq!(
            Insn::decode(&encoded),
            Ok(insn),
            "slot {index} decodes differently after encoding"
        );
        let _ = format!("{insn:?}");
    }
    let insns: Vec<Insn> = decoded.iter().map(|&(_, insn)| insn).collect();
    assert_eq!(slots_to_bytes(&encode_program(&insns)), data);
    if let Ok(by_slot) = decode_program(&slots) {
        let again: Vec<Insn> = by_slot.into_iter().flatten().collect();
        assert_eq!(again, insns, "decode_program and decode_slots disagree");
    }
});
