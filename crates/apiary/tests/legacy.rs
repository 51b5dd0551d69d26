//! A tc-era object through the facade: `set_program_type` types the
//! sections iproute2 left to the command, fills the tail-call slot and the
//! map-in-map, and the runs do what the C source says.

use apiary::{OpenObject, SkbRun, Tc};

#[test]
fn tc_objects_run_with_the_type_the_user_chose() {
    let legacy = match apiary_corpus::legacy_object("tc_elf_maps") {
        Ok(legacy) => legacy,
        Err(why) => {
            return apiary_testskip::missing("tc_objects_run_with_the_type_the_user_chose", why);
        }
    };
    let untyped = OpenObject::open(legacy.path()).unwrap().load().unwrap();
    assert!(untyped.program::<Tc>("from_netdev").is_err());
    assert!(matches!(
        OpenObject::open(legacy.path())
            .unwrap()
            .set_program_type("nonsense", None),
        Err(apiary::Error::UnknownProgramType(_))
    ));

    let mut open = OpenObject::open(legacy.path()).unwrap();
    open.set_program_type("tc", None).unwrap();
    let object = open.load().unwrap();
    let mut runner = object.runner(0);
    let frame = [0x5au8; 120];
    let entry = object.program::<Tc>("cls_entry").unwrap();
    // cls_entry tail-calls "2/1", which drops (TC_ACT_SHOT).
    assert_eq!(
        runner
            .test_run(&entry, &SkbRun::new(&frame))
            .unwrap()
            .retval,
        2
    );
    let from_netdev = object.program::<Tc>("from_netdev").unwrap();
    assert_eq!(
        runner
            .test_run(&from_netdev, &SkbRun::new(&frame[..64]))
            .unwrap()
            .retval,
        0,
        "TC_ACT_OK at 64 bytes"
    );
    let counters: apiary::Array<u64> = object.map_view("counters").unwrap();
    let counts: Vec<u64> = (0..3).map(|i| counters.get(i, 0).unwrap()).collect();
    assert_eq!(counts, [1, 1, 1]);
    // "2/1" added skb->len to the map in slot 0 of outer: the one named inner.
    let inner: apiary::Array<u64> = object.map_view("inner").unwrap();
    assert_eq!(inner.get(0, 0).unwrap(), 120);
}
