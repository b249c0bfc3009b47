"""Education (PKH education component): enrolment, monthly attendance, dropout risk."""
