"""Synthetic DICOM corpus: realistic CT, CT dose SR and mammography studies with known answers.

Tests, benchmarks and the demo use it in place of patient data. Everything is derived from the seed
(UIDs are ``2.25.<integer from a hash>``, times come from the spec's dates, never the clock), so the
same spec always gives byte-identical files, and studies are generated one at a time (constant memory).

Usage::

    from resources.corpus import CorpusSpec, CorpusManifest, generate_corpus, iter_corpus

    spec = CorpusSpec(seed=7, n_studies=40, start_date=datetime.date(2026, 11, 9), days=7)
    manifest = generate_corpus(out_dir, spec)        # files + <out_dir>/manifest.json
    for item in iter_corpus(spec):                   # streaming, constant memory
        item.dataset, item.relative_path, item.study, item.series_kind, item.planted_phi
    manifest = CorpusManifest.load(out_dir)          # read the ground truth back

Command line: ``dicom-lake corpus generate OUT_DIR --seed N --studies N --start-date YYYY-MM-DD
--days N [--header-only]``.

What a corpus holds
-------------------
* CT studies (GE, Siemens, Philips, Canon/Toshiba; stations and institutions spelled inconsistently):
  one localiser series (one image, no CTDIvol) and one image series per irradiation event. Every image
  carries CTDIvol (0018,9345) and CTDI Phantom Type (0018,9346) equal to its event's, Irradiation Event
  UID (0008,3010), and Image Position (Patient) z stepping by Slice Thickness so that
  ``last - first + thickness`` equals the event's Scanning Length; DLP = CTDIvol x length / 10 (to
  0.01); Acquisition DateTime lies inside the event's window (DateTime Started + Exposure Time).
* An X-Ray Radiation Dose SR (TID 10011) for ``rdsr_fraction`` of CT studies, consistent with the
  images; the DLP unit is written ``mGy.cm`` or ``mGycm`` depending on the vendor; some Siemens studies
  send two cumulative dose SRs (the second holds every event of the first plus one).
* Mammography studies (Hologic, GE): four views with Organ Dose (dGy), Body Part Thickness,
  Compression Force, kVp, anode and filter, Entrance Dose in mGy, Relative X-Ray Exposure, Distance
  Source to Entrance, and (tungsten-target systems) Half Value Layer.
* Patients 0-95 years, children in the 0, 1, 5, 10 and 15 year bands, a few without Patient's Age,
  some scanned again on a later day.
* Identifiers planted (``plant_phi``) in 40+ places: free text, addresses, phone numbers, clinicians,
  other IDs, Request Attributes and Referenced Patient sequences (nested), vendor private blocks
  (including a private sequence), and SR TEXT / PNAME / UIDREF content items.

Files: ``<out_dir>/<YYYYMMDD>_<study index, 6 digits>_<CT|MG>/<series number, 4 digits>_<kind>/<n>.dcm``
with kind ``localizer``, ``image``, ``rdsr`` or ``mg``; Part 10, Explicit VR Little Endian.

manifest.json (schema_version 1)
--------------------------------
``spec``
    The CorpusSpec as a mapping (``start_date`` ISO).
``n_files``
    Number of DICOM files written.
``patients[]``
    ``patient_id``, ``issuer``, ``name`` (DICOM PN), ``birth_date`` (ISO), ``sex``, ``age_years`` (at
    ``spec.start_date``), ``is_child``, ``age_band`` (0/1/5/10/15 or null), ``size_m``, ``weight_kg``,
    ``nhs_number``, ``other_patient_ids``, ``opt_out_candidate`` (use these IDs to test opt-out lists).
``studies[]``
    ``index``, ``study_uid``, ``accession``, ``patient_id``, ``study_date``, ``study_time``, ``folder``,
    ``modality`` (CT|MG), ``age_years`` (at the study), ``patient_age_written`` (the Patient's Age
    string or null when absent), ``adult`` (age >= 18), ``has_rdsr``, ``rdsr_count``,
    ``cumulative_rdsrs`` (two cumulative dose SRs: a de-duplication test case);
    ``device``: ``key``, ``vendor`` (canonical), ``manufacturer`` (as written), ``model``,
    ``serial_number``, ``software_version``, ``station_name_raw`` / ``station_name_canonical``,
    ``institution_name_raw`` / ``institution_name_canonical``, ``device_observer_uid``;
    ``protocol``: ``protocol_name_raw`` (0018,1030), ``study_description_raw`` (0008,1030 before any
    planted name), ``canonical_exam`` (e.g. "CT Head"; null when deliberately unmappable),
    ``drl_category`` (UK 2022 national DRL examination name, or null);
    ``true_body_region`` (region key); ``body_part_examined``: ``written``, ``true``, ``wrong``
    (Body Part Examined deliberately contradicts a clear description);
    ``series[]``: ``series_uid``, ``series_number``, ``kind`` (image|localizer|rdsr|mg),
    ``n_instances``, ``sop_uids``, ``irradiation_event_uid`` (CT image/localiser series),
    ``rdsr_event_uids`` (rdsr series: the event UIDs in each dose SR, in instance order);
    ``dose_events[]`` (CT; the truth whether or not a dose SR exists): ``irradiation_event_uid``,
    ``kind`` (localizer|spiral|sequenced), ``acquisition_protocol``, ``target_region`` {code, scheme,
    meaning, region_key}, ``acquisition_type`` {code, scheme, meaning}, ``ctdivol_mgy``, ``dlp_mgycm``
    (null for localisers), ``phantom`` (head|body|null), ``scanning_length_mm``, ``kvp``,
    ``tube_current_ma``, ``exposure_time_s``, ``single_collimation_mm``, ``total_collimation_mm``,
    ``pitch``, ``start`` / ``end`` (ISO), ``has_dose_container``, ``series_uid``, ``n_images``,
    ``slice_thickness_mm``;
    ``mammo_views[]`` (MG): ``laterality``, ``view``, ``organ_dose_dgy``, ``body_part_thickness_mm``,
    ``compression_force_n``, ``kvp``, ``tube_current_ma``, ``exposure_time_ms``, ``exposure_mas``,
    ``anode_target_material``, ``filter_material``, ``entrance_dose_mgy``, ``acquired``;
    ``totals``: ``n_events``, ``n_dose_events``, ``dlp_total_mgycm``, ``ctdivol_max_mgy``
    (MG: ``organ_dose_total_dgy``).
``planted_phi[]``
    ``study_uid``; ``scope`` study (every instance of the study) | series (every instance of
    ``series_uid``) | instance (``sop_uid``); ``tag_path`` (notation in ``resources.corpus.tag_paths``:
    ``(gggg,eeee)``, ``(gggg,"CREATOR",ee)`` for private elements, ``[i]`` for sequence items, ``.``
    between levels); ``value`` (exactly as written); ``identifier`` (the identifying text inside the
    value); ``identifiers`` (every known identifier of the patient found inside the value); ``kind``.
    The ordinary identifiers (Patient's Name, ID, Birth Date, Accession Number, Referring Physician) are
    listed too, so ``CorpusManifest.phi_identifiers()`` is the full set de-identified output must not
    contain.
``summaries.counts``
    How many studies of each sort (CT, MG, with and without dose SR, cumulative dose SRs, paediatric,
    without Patient's Age, wrong Body Part Examined, unmappable examination), patients and files.
``summaries.drl``
    Known answers for a DRL audit over adult CT studies: ``by_category`` and
    ``by_category_and_station`` ("<category> @ <canonical station>") with ``n_studies``,
    ``median_dlp_mgycm`` (median of per-study DLP totals), ``median_ctdivol_mgy`` (median over every
    event with a CT Dose container) and ``median_ctdivol_study_mean_mgy`` (median of each study's mean
    sequence CTDIvol; equal to the former unless ``multiphase_fraction`` > 0).
"""

from resources.corpus.generator import CorpusItem, generate_corpus, iter_corpus
from resources.corpus.manifest import MANIFEST_NAME, CorpusManifest, study_manifest
from resources.corpus.spec import CorpusSpec
from resources.corpus.tag_paths import TagPathError, resolve_tag_path

__all__ = [
    "MANIFEST_NAME",
    "CorpusItem",
    "CorpusManifest",
    "CorpusSpec",
    "TagPathError",
    "generate_corpus",
    "iter_corpus",
    "resolve_tag_path",
    "study_manifest",
]
