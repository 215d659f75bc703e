use super::*;

#[test]
fn the_sample_catalog_holds_the_seed_procedures() {
    let c = Catalog::sample();
    assert!(c.procedures.len() >= 8);
    for code in ["1.001193", "1.000894", "1.009994", "1.012753", "2.000720", "2.000815"] {
        let p = c.get(code).unwrap_or_else(|| panic!("{code} missing"));
        assert!(!p.cases.is_empty());
    }
    assert!(validate(&c.procedures, &|i| i + 1).is_empty());
    let land = c.get("1.012753").unwrap();
    assert!(land.cases.iter().any(|k| k.processing_time == 30), "difficult areas take longer");
    assert!(land.cases.iter().all(|k| k.documents.iter().all(|d| d.originals + d.copies > 0)));
}

const HEADER: &str = "procedure_code,provincial_code,procedure_name,level,field,agency,online_level,legal_basis,case_code,case_name,processing_time,unit,same_day,no_appointment,fee_vnd,fee_collected,documents";

#[test]
fn csv_rows_become_procedures_with_cases() {
    let csv = format!(
        "{HEADER}\n\
         1.001193,1.001193.H56,Đăng ký khai sinh,commune,Hộ tịch,UBND xã,full,Luật Hộ tịch,a,Đúng hạn,0,working_days,true,false,,,Tờ khai|1|0\n\
         1.009994,,Cấp giấy phép xây dựng,commune,Xây dựng,UBND xã,partial,,a,Nhà ở,15,working_days,false,false,75.000,at_result,Đơn|1|0;Bản vẽ|2|0;Cam kết|1|0|optional\n\
         1.009994,,Cấp giấy phép xây dựng,commune,Xây dựng,UBND xã,partial,,b,Sửa chữa,10,working_days,false,false,75000,at_result,Đơn|1|0\n"
    );
    let c = import_csv(csv.as_bytes(), "H56-2025").unwrap();
    assert_eq!(c.version, "H56-2025");
    assert_eq!(c.procedures.len(), 2);
    let permit = c.get("1.009994").unwrap();
    assert_eq!(permit.cases.len(), 2);
    assert_eq!(permit.cases[0].total_fee_vnd(), 75_000);
    assert_eq!(permit.cases[0].documents.len(), 3);
    assert!(!permit.cases[0].documents[2].required);
    assert_eq!(c.get("1.001193.H56").unwrap().code, "1.001193");
}

#[test]
fn csv_errors_are_reported_per_row_and_nothing_is_imported() {
    let csv = format!(
        "{HEADER}\n\
         1.001193,,Khai sinh,commune,Hộ tịch,UBND xã,full,,a,x,0,working_days,true,false,,,Tờ khai|1|0\n\
         1.00119,,Sai mã,commune,Hộ tịch,UBND xã,full,,a,x,3,working_days,false,false,,,\n\
         2.000720,,Hộ kinh doanh,district,Kinh doanh,UBND xã,full,,a,x,three,weeks,false,false,abc,,Giấy|one|0\n"
    );
    let Err(ImportError::Rows(errors)) = import_csv(csv.as_bytes(), "v") else { panic!("must fail") };
    let fields: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.field.as_str())).collect();
    assert!(fields.contains(&(3, "code")), "{fields:?}");
    for f in ["level", "processing_time", "unit", "fee_vnd", "documents"] {
        assert!(fields.contains(&(4, f)), "row 4 {f}: {fields:?}");
    }
    assert!(!fields.iter().any(|(r, _)| *r == 2), "row 2 is valid: {fields:?}");
}

#[test]
fn csv_without_required_columns_is_refused() {
    let Err(ImportError::Rows(errors)) = import_csv(b"procedure_code,name\n1.001193,x\n", "v") else {
        panic!("must fail")
    };
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.contains("case_code"));
}

#[test]
fn json_import_reports_each_bad_procedure() {
    let sample = serde_json::to_value(Catalog::sample()).unwrap();
    let mut procedures = sample["procedures"].as_array().unwrap().clone();
    procedures.push(serde_json::json!({"code": "9.9", "name": "x"}));
    let mut dup = procedures[0].clone();
    dup["name"] = "trùng".into();
    procedures.push(dup);
    let text = serde_json::to_vec(&serde_json::json!({"version": "v2", "procedures": procedures})).unwrap();
    let Err(ImportError::Rows(errors)) = import_json(&text, "v") else { panic!("must fail") };
    let n = procedures.len();
    assert!(errors.iter().any(|e| e.row == n - 1), "{errors:?}");
    assert!(errors.iter().any(|e| e.row == n && e.message.contains("already defined")), "{errors:?}");

    let ok = serde_json::to_vec(&Catalog::sample()).unwrap();
    let c = import_json(&ok, "ignored").unwrap();
    assert_eq!(c, Catalog::sample());
    assert!(matches!(import_json(b"{not json", "v"), Err(ImportError::Unreadable(_))));
    assert!(matches!(import_json(b"[]", "v"), Err(ImportError::Rows(_))));
}

#[test]
fn procedure_codes() {
    assert!(is_procedure_code("1.001193"));
    assert!(is_procedure_code("1.012753.H19"));
    assert!(!is_procedure_code("1.01275"));
    assert!(!is_procedure_code("12.001193"));
    assert!(!is_procedure_code("1.001193."));
    assert!(!is_procedure_code("1.001193.H1.9"));
}

#[test]
fn a_case_with_too_many_or_unnamed_workflow_steps_is_refused() {
    let mut catalog = Catalog::sample();
    let permit = catalog.procedures.iter_mut().find(|p| p.code == "1.009994").unwrap();
    let step = permit.cases[0].steps[0].clone();
    permit.cases[0].steps = vec![step.clone(); crate::catalog::STEP_NUMBER_MAX as usize + 1];
    permit.cases[0].steps[1].name = " ".into();
    let text = serde_json::to_vec(&catalog).unwrap();
    let Err(ImportError::Rows(errors)) = import_json(&text, "v") else { panic!("must fail") };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert!(fields.contains(&"cases[0].steps"), "{errors:?}");
    assert!(fields.contains(&"cases[0].steps[1].name"), "{errors:?}");
    permit_with_steps(&mut catalog, vec![step; crate::catalog::STEP_NUMBER_MAX as usize]);
    assert!(import_json(&serde_json::to_vec(&catalog).unwrap(), "v").is_ok(), "100 named steps are fine");
}

fn permit_with_steps(catalog: &mut Catalog, steps: Vec<Step>) {
    catalog.procedures.iter_mut().find(|p| p.code == "1.009994").unwrap().cases[0].steps = steps;
}
