//! CO-RE relocations answered from the Linux guest's DWARF: fields reached through anonymous
//! structs and unions (every TCP tool reads `sk->__sk_common.skc_num`), and enum values.
//! The enumerators are the uapi's constants (`include/uapi/linux/bpf.h`), `skc_num` follows
//! `skc_dport` in the same anonymous struct as in `include/net/sock.h`, and the offsets match
//! the C-style member lookup of the type reader (which finds members through anonymous ones).
//!
//! Needs the Linux image (`scripts/test.sh` builds it first).

use jit::btf::core::{AccessStep, CoreAnswer, CoreKind, CoreQuery};
use probes::image::GuestImage;

fn image() -> GuestImage {
    let dir = emu::loader::linux::image_dir()
        .filter(|d| d.join("vmlinux").is_file())
        .expect("no Linux image: run `bpflab image build linux` (scripts/test.sh builds it)");
    GuestImage::new(
        "linux",
        std::fs::read(dir.join("vmlinux")).expect("vmlinux"),
    )
    .expect("image")
}

fn field(name: &str) -> AccessStep {
    AccessStep::Field {
        name: name.into(),
        index: 0,
    }
}

fn ask(img: &GuestImage, kind: CoreKind, ty: &str, path: &[AccessStep]) -> CoreAnswer {
    let (type_kind, type_name) = ty.split_once(' ').expect("KIND NAME");
    img.core_answer(&CoreQuery {
        kind,
        type_kind,
        type_name,
        first_index: 0,
        path,
    })
    .unwrap_or_else(|e| panic!("{ty}: {e}"))
}

#[test]
fn fields_inside_anonymous_members_resolve() {
    let img = image();
    let types = img.types().expect("types");
    let sock = types
        .find("struct sock")
        .expect("find")
        .expect("struct sock");
    let common = types.member_path(sock, "__sk_common").expect("__sk_common");
    for name in ["skc_num", "skc_dport", "skc_daddr", "skc_family"] {
        let want = common.offset
            + types
                .member_path(common.ty, name)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .offset;
        // The access string clang emits goes through the anonymous member: `0:0:N:M`.
        let path = [field("__sk_common"), field(""), field(name)];
        assert_eq!(
            ask(&img, CoreKind::FieldByteOffset, "struct sock", &path),
            CoreAnswer::Value(want),
            "{name}"
        );
        assert_eq!(
            ask(&img, CoreKind::FieldExists, "struct sock", &path),
            CoreAnswer::Value(1)
        );
    }
    // skc_num sits in `struct { __be16 skc_dport; __u16 skc_num; }` right after skc_dport.
    let off = |n| match ask(
        &img,
        CoreKind::FieldByteOffset,
        "struct sock",
        &[field("__sk_common"), field(""), field(n)],
    ) {
        CoreAnswer::Value(v) => v,
        CoreAnswer::Missing => panic!("{n} missing"),
    };
    assert_eq!(off("skc_num"), off("skc_dport") + 2);
    assert_eq!(
        ask(
            &img,
            CoreKind::FieldExists,
            "struct sock",
            &[field("__sk_common"), field(""), field("skc_nosuch")]
        ),
        CoreAnswer::Missing
    );
}

#[test]
fn enum_values_and_their_existence() {
    let img = image();
    let q = |kind, e: &str| ask(&img, kind, "enum bpf_map_type", &[field(e)]);
    assert_eq!(
        q(CoreKind::EnumvalValue, "BPF_MAP_TYPE_CGROUP_ARRAY"),
        CoreAnswer::Value(8)
    );
    assert_eq!(
        q(CoreKind::EnumvalValue, "BPF_MAP_TYPE_RINGBUF"),
        CoreAnswer::Value(27)
    );
    assert_eq!(
        q(CoreKind::EnumvalExists, "BPF_MAP_TYPE_RINGBUF"),
        CoreAnswer::Value(1)
    );
    assert_eq!(
        q(CoreKind::EnumvalExists, "BPF_MAP_TYPE_FROM_THE_FUTURE"),
        CoreAnswer::Missing
    );
    assert_eq!(
        ask(
            &img,
            CoreKind::EnumvalExists,
            "enum no_such_enum",
            &[field("X")]
        ),
        CoreAnswer::Missing
    );
}
