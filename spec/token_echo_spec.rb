require "securerandom"

# Issue 23, item 6(a): a proxy or a misbehaving API that echoes the request's
# Authorization header back in a 401 body. Heroku's answer is cut to an
# excerpt (200 characters of a plain body, 400 of a JSON `message`) for the
# log, `status[:pools][n][:last_result]` and the `error.middle_management`
# notification. Scrubbed after the cut, a token straddling it no longer
# matches as a whole and its first characters survive; scrubbed before, none
# do. So every variant below puts the token where a cut would split it, and
# the examples look for any 6 consecutive characters of it, not the whole.
#
# Real parts: the gem booted in-process on Delayed Job and SQLite, a job
# enqueued, and the formation API on 127.0.0.1 answering 401 with the echo.
RSpec.describe "A 401 whose body echoes the token" do
  # Random, and long enough that a cut leaves plenty of it on either side;
  # no prefix of ours, so a 6-character window of it can only come from it.
  let(:token) { SecureRandom.alphanumeric(40) }
  let(:heroku) { FakeHeroku.start(app: "example", token: token, formation: { "worker" => 0 }) }
  let(:vars) do
    { "HEROKU_APP" => "example", "HEROKU_API_KEY" => token, "HEROKU_API_URL" => heroku.url,
      "MIN_WORKERS" => 0, "MAX_WORKERS" => 10, "JOBS_PER_WORKER" => 1, "API_THROTTLE" => 0, "COUNT_INTERVAL" => 0 }
  end

  before(:all) { DelayedJobDatabase.connect }
  before { DelayedJobDatabase.clear }

  # Every notification the gem sends, whatever its name: the leak was in
  # `error.middle_management`, but no other payload may carry the token either.
  let(:payloads) { [] }
  around do |example|
    subscriber = ActiveSupport::Notifications.subscribe(/\.middle_management\z/) do |name, *, payload|
      payloads << [name, payload]
    end
    example.run
  ensure
    ActiveSupport::Notifications.unsubscribe(subscriber)
  end

  # The echoed body, the token starting exactly `offset` characters in: the
  # filler has no blanks and the header only single ones, so the excerpt's
  # collapsing of whitespace runs does not move it.
  def echo(offset, prefix: "")
    header = "Authorization: Bearer "
    filler_length = offset - prefix.length - header.length
    filler = ("proxy-echo;" * 40)[0, filler_length]
    "#{prefix}#{filler}#{header}#{token};rest-of-the-echoed-request"
  end

  def windows(text, size = 6) = (0..text.length - size).map { |i| text[i, size] }

  # The first 6-character window of the token found in `text`, or nil.
  def token_piece_in(text) = windows(token).find { |window| text.include?(window) }

  # Answers every request of the decision (formation read and change alike)
  # with the canned 401: a fault answers before the token is checked, as a
  # proxy in front of Heroku would. The server's helpers build JSON bodies
  # only, so the canned answer goes on its fault queue directly.
  def answer_401(content_type, body)
    fault = MiddleManagement::LocalFormation::Faults::Canned.new(status: 401, content_type: content_type, body: body)
    heroku.instance_variable_get(:@faults).push(100, fault)
  end

  def enqueue_and_flush
    boot_middle_management(vars)
    MiddleManagement.agent.backends.select! { |backend| backend.equal?(MiddleManagement::Backends::DelayedJob) }
    MiddleManagement::Slacker.delay.slack_for(0)
    MiddleManagement.flush(5)
    expect(heroku.wait_for_requests(1, timeout: 5)).to be(true), middle_management_log
  end

  # `seen_before_token`: text just before the token in the body, which must
  # reach the log: proof that the excerpt came through up to the cut, so the
  # absence of the token is the scrubbing's doing and not an empty message.
  def expect_no_piece_of_the_token(seen_before_token:)
    status = MiddleManagement.status
    expect(status[:pools][0][:last_result].to_s).to include("401").or include("unauthorized")
    expect(middle_management_log).to include(seen_before_token)
    expect(payloads.map(&:first)).to include("error.middle_management")

    sources = { "the log" => middle_management_log, "MiddleManagement.status" => status.inspect }
    payloads.each_with_index { |(name, payload), i| sources["notification #{i} (#{name})"] = payload.inspect }
    sources.each do |source, text|
      piece = token_piece_in(text)
      expect(piece).to be_nil, "#{source} holds #{piece.inspect}, 6 characters of the token:\n#{text}"
    end
  end

  # Scrubbed after the cut (the old order), `text` would show this much of
  # the token: the proof that a variant does split it where it is cut, so
  # that its example fails on code that scrubs the excerpt instead of the
  # whole body.
  def expect_cut_to_split_the_token(text, cut)
    scrubbed_after_cut = text[0, cut].gsub(token, "[REDACTED]")
    expect(token_piece_in(scrubbed_after_cut)).not_to be_nil
  end

  # Plain text: the excerpt is the body's first 200 characters. At 150 the
  # token ends inside them (whole-token scrubbing suffices); from 161 to 194
  # the cut splits it, leaving 39 to 6 characters before the cut (176: the
  # issue's case).
  [150, 165, 176, 184, 194].each do |offset|
    it "keeps it out of log, status and payloads: text/plain, token at character #{offset}" do
      body = echo(offset)
      expect_cut_to_split_the_token(body, 200) unless offset == 150
      answer_401("text/plain", body)
      enqueue_and_flush
      expect_no_piece_of_the_token(seen_before_token: "Authorization: Bearer")
    end
  end

  # Heroku's JSON shape: the message is what is shown, cut at 400 characters
  # today. Offsets are in the message, which starts 32 characters into the
  # body: at 150 the token straddles the body's 200th character (a client
  # cutting the body before parsing it), at 184 the message's 200th, at 384
  # the message's 400th.
  { 150 => [:body, 200], 184 => [:message, 200], 384 => [:message, 400] }.each do |offset, (cut_in, cut)|
    it "keeps it out of log, status and payloads: Heroku's JSON, token across the #{cut_in}'s #{cut}th character" do
      prefix = '{"id":"unauthorized","message":"'
      message = echo(offset + prefix.length, prefix: prefix).delete_prefix(prefix)
      body = JSON.generate("id" => "unauthorized", "message" => message)
      expect(body).to start_with(prefix)
      expect_cut_to_split_the_token(cut_in == :body ? body : message, cut)
      answer_401("application/json", body)
      enqueue_and_flush
      expect_no_piece_of_the_token(seen_before_token: "Authorization: Bearer")
    end
  end
end
