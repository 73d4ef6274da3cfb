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

A reader of TID 10001 Projection X-Ray Radiation Dose (with TID 10002 Accumulated X-Ray Dose Data and
TID 10003 Irradiation Event X-Ray Data) belongs beside these, built on the same shared modules.
"""
