"""Reading X-ray radiation dose SRs, one module per PS3.16 template.

Shared by every template (nothing here is CT-specific):

* :mod:`.content_items`: the content tree read from the raw bytes (items as ``dict`` of tag -> value);
* :mod:`.value_types`: the SR value types (PS3.3 C.17.3.2.1) as an enum;
* :mod:`.content_tree`: decoding items into text, codes, numbers and times;
* :mod:`.document`: recognising which dose template a document carries, and its header;
* :mod:`.observer_context`: TID 1002 / TID 1004 Device Observer Identifying Attributes.

The CT Radiation Dose template and its sub-templates:

* :mod:`.ct_radiation_dose`: TID 10011 CT Radiation Dose (the document; the reader's entry points);
* :mod:`.ct_accumulated_dose_data`: TID 10012 CT Accumulated Dose Data;
* :mod:`.ct_irradiation_event_data`: TID 10013 CT Irradiation Event Data;
* :mod:`.scanning_length`: TID 10014 Scanning Length;
* :mod:`.ct_dose_check_details`: TID 10015 CT Dose Check Details.

The Projection X-Ray Radiation Dose template (fluoroscopy, interventional, radiography, mammography)
and its sub-templates, on the same shared modules:

* :mod:`.projection_radiation_dose`: TID 10001 Projection X-Ray Radiation Dose (the document; the
  reader's entry points; a truncated file gives a flagged partial result);
* :mod:`.projection_accumulated_dose_data`: TID 10002 Accumulated X-Ray Dose Data per plane, with TID
  10004 (fluoroscopy and acquisition), 10005 (projection) and 10007 (mammography, AGD per breast);
* :mod:`.projection_irradiation_event_data`: TID 10003 Irradiation Event X-Ray Data with 10003A/B/C;
* :mod:`.projection_numbers`: NUM items in one unit per quantity, vendor quirks flagged;
* :mod:`.projection_codes`: the templates' coded concepts;
* :mod:`.projection_file`: a dose SR's top level read from its bytes (no pydicom dataset parse);
* :mod:`.projection_stream`: the file read front to back in a fixed window, one top-level item at a
  time (events handed out one by one), so memory does not grow with the report;
* :mod:`.projection_report`: the report's result type, built one top-level item at a time.
"""
