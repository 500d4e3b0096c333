require "json"

module MiddleManagement
  module LocalFormation
    # Checks a request the way Heroku does (version header, credentials, a
    # JSON body), raising the ApiError Heroku would answer; Api applies the
    # checks in Heroku's order and UpdateParams checks what the body asks.
    # Strict on purpose: a client that passes here sends what the real API
    # accepts.
    module RequestValidation
      ACCEPT = "application/vnd.heroku+json; version=3"
      # Heroku's MIME type with version 3, however the parameters are spaced,
      # plain or as the `sdk` variant Heroku's CLI asks for in `heroku ps`.
      VERSION_3 = %r{application/vnd\.heroku\+json\s*;\s*version=3(\.sdk)?(\z|[\s;,])}i

      module_function

      def check_version!(accept)
        raise ApiError.missing_version unless accept.to_s.match?(VERSION_3)
      end

      # In constant time: the local formation may be given a real token.
      def same_token?(presented, token)
        return false unless presented && presented.bytesize == token.bytesize

        presented.bytes.zip(token.bytes).sum { |a, b| a ^ b }.zero?
      end

      # The Bearer token, or the password of HTTP Basic (any username), as
      # Heroku accepts both.
      def presented_token(authorization)
        scheme, credentials = authorization.to_s.strip.split(/\s+/, 2)
        return nil unless credentials

        case scheme.downcase
        when "bearer" then credentials
        when "basic" then credentials.unpack1("m0").split(":", 2)[1]
        end
      rescue ArgumentError
        nil # not valid base64
      end

      def parse_body!(content_type, body)
        raise ApiError.not_json unless content_type.to_s.downcase.start_with?("application/json")

        JSON.parse(body.to_s)
      rescue JSON::ParserError
        raise ApiError.invalid_json
      end
    end
  end
end
