require "json"
require "securerandom"

module MiddleManagement
  module LocalFormation
    # What happens to each HTTP request, in Heroku's order: it is recorded
    # and counted against the rate limit, then an injected fault or the
    # exhausted rate limit may answer before the API even looks at it.
    class RequestHandler
      WEB_PATH = "/middle_management".freeze

      def initialize(api:, log:, faults:, rate_limit:, web: nil)
        @api = api
        @log = log
        @faults = faults
        @rate_limit = rate_limit
        @web = web
      end

      # WEBrick's request and response (called on the connection's thread).
      def call(request, response)
        return WebRequest.serve(@web, WEB_PATH, request, response) if @web && WebRequest.under?(WEB_PATH, request)

        recorded = @log.record(record(request))
        remaining, exhausted = @rate_limit.take
        return hold_and_drop(recorded) if @faults.hanging?

        answer = @faults.shift
        return drop(recorded) if answer == Faults::DROP

        answer ||= exhausted ? rate_limited : api_answer(recorded)
        # The change is already applied: a slow answer, not a slow change.
        @faults.pause(@faults.delay)
        respond(response, answer, remaining)
        @log.answered(recorded, answer.status)
      end

      private

      def record(request)
        path, query = request.unparsed_uri.split("?", 2)
        headers = request.header.transform_values { |values| values.join(", ") }
        RecordedRequest.new(method: request.request_method, path: path, query: query, headers: headers,
                            body: request.body, at: Time.now)
      end

      # A success carries an ETag; a GET naming it in If-None-Match gets 304.
      def api_answer(recorded)
        status, value, headers = @api.call(recorded.method, recorded.path, recorded.headers, recorded.body)
        body = JSON.generate(value)
        if (200..299).cover?(status)
          headers = headers.merge("ETag" => ETag.of(body))
          unchanged = recorded.method == "GET" && ETag.match?(recorded.header("if-none-match"), headers["ETag"])
          return Faults::Canned.new(status: 304, body: "", headers: headers) if unchanged
        end
        Faults::Canned.new(status: status, content_type: "application/json", body: body, headers: headers)
      end

      def rate_limited
        Faults::Canned.new(status: 429, content_type: "application/json", body: ApiError.rate_limit.to_json,
                           rate_limit_remaining: 0)
      end

      def hold_and_drop(recorded)
        @log.dropped(recorded)
        @faults.hold
        Listener.drop_current_connection
      end

      def drop(recorded)
        @log.dropped(recorded)
        Listener.drop_current_connection
      end

      def respond(response, answer, remaining)
        response.status = answer.status
        response["Content-Type"] = answer.content_type if answer.content_type
        answer.headers&.each { |name, value| response[name] = value }
        response["RateLimit-Remaining"] = (answer.rate_limit_remaining || remaining).to_s
        response["Request-Id"] = SecureRandom.uuid
        response.body = answer.body
      end
    end
  end
end
